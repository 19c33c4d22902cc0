import { type Entry, type GetOptions, whenReady } from '../../store/store.js';
import { StoreError } from '../../store/store-error.js';
import { emptyAnswer, entryAnswer, etag } from '../answers.js';
import { noneMatchHits, parseTagCondition } from '../conditional.js';
import type { ApiContext } from '../context.js';
import type { Answer } from '../door.js';
import { HttpError } from '../errors.js';
import type { ApiRequest, Route } from '../router.js';
import { parseWriteBody } from '../write-body.js';

/** `/v1/<key>`: read, overwrite and delete one key. */
export function itemRoutes({ store, config }: ApiContext): Route[] {
  const limits = { maxKeyBytes: config.maxKeyBytes, maxValueBytes: config.maxValueBytes };

  function read(request: ApiRequest, entry: Entry | undefined): Answer {
    if (entry === undefined) throw new StoreError('key_not_found', { key: request.key });
    if (noneMatchHits(lenientCondition(request.header('if-none-match')), String(entry.revision))) {
      return emptyAnswer(304, ['ETag', etag(entry)]);
    }
    return entryAnswer(200, entry);
  }

  return [
    {
      method: 'GET',
      path: '/v1/*',
      access: 'read',
      revisioned: true,
      handle: (request) => whenReady(store.get(request.key, readOptions(request)), (entry) => read(request, entry)),
    },
    {
      method: 'PUT',
      path: '/v1/*',
      access: 'write',
      json: true,
      revisioned: true,
      handle(request) {
        const body = parseWriteBody(request.body, limits, request.key);
        const conditions = writeConditions(request);
        return whenReady(store.replace(request.key, body.value, { ttlMs: body.ttlMs, conditions }), (entry) => entryAnswer(200, entry));
      },
    },
    {
      method: 'DELETE',
      path: '/v1/*',
      access: 'write',
      revisioned: true,
      handle: (request) => whenReady(store.delete(request.key, { conditions: writeConditions(request) }), () => emptyAnswer(204)),
    },
  ];
}

/**
 * `?consistent=true`: a linearizable read (the etcd backend reads etcd instead of the node's
 * cache). Any other value of `consistent` is 400 invalid_query.
 */
function readOptions(request: ApiRequest): GetOptions | undefined {
  if (request.query === '') return undefined;
  const consistent = new URLSearchParams(request.query).get('consistent');
  if (consistent === null || consistent === 'false') return undefined;
  if (consistent === 'true') return CONSISTENT;
  throw new HttpError('invalid_query', `consistent must be true or false, got '${consistent}'`);
}

const CONSISTENT: GetOptions = { consistent: true };

/** If-Match and If-None-Match of a write; a malformed one is 400 invalid_header. */
export function writeConditions(request: ApiRequest) {
  const ifMatch = parseTagCondition('If-Match', request.header('if-match'));
  const ifNoneMatch = parseTagCondition('If-None-Match', request.header('if-none-match'));
  return ifMatch === undefined && ifNoneMatch === undefined ? undefined : { ifMatch, ifNoneMatch };
}

/** A read's If-None-Match: one that does not parse matches nothing (the read is answered in full). */
function lenientCondition(header: string | undefined) {
  if (header === undefined) return undefined;
  try {
    return parseTagCondition('If-None-Match', header);
  } catch (err) {
    if ((err as HttpError).code === 'invalid_header') return undefined;
    throw err;
  }
}
