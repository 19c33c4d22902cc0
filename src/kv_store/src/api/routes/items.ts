import { type Entry, type GetOptions, whenReady } from '../../store/store.js';
import { emptyAnswer, entryAnswer, etag, storeRefusal } from '../answers.js';
import { noneMatchHits, parseTagCondition } from '../conditional.js';
import type { ApiContext } from '../context.js';
import type { Answer } from '../door.js';
import type { HttpError } from '../errors.js';
import { QueryParams } from '../query.js';
import type { ApiRequest, Route } from '../router.js';
import { parseWriteBody } from '../write-body.js';
import { isWatch, watch } from './watch.js';

/** `/v1/<key>`: read (or, with watch=true, watch), overwrite and delete one key. */
export function itemRoutes({ store, config, watches }: ApiContext): Route[] {
  const limits = { maxKeyBytes: config.maxKeyBytes, maxValueBytes: config.maxValueBytes };

  function read(request: ApiRequest, entry: Entry | undefined): Answer {
    if (entry === undefined) return storeRefusal('key_not_found', { key: request.key });
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
      handle(request) {
        // A read ignores its query string, as it always has; only watch=... makes it a watch.
        if (request.query.includes('watch')) {
          const params = QueryParams.parse(request.query);
          if (params.has('watch') && isWatch(params)) return watch(store, watches, request, params, request.key, config.maxKeyBytes);
        }
        return whenReady(store.get(request.key, readOptions(request)), (entry) => read(request, entry));
      },
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
 * cache). Any other value of `consistent` is 400 invalid_query; other parameters are ignored, as
 * a read always has.
 */
function readOptions(request: ApiRequest): GetOptions | undefined {
  if (!request.query.includes('consistent')) return undefined;
  return QueryParams.parse(request.query).boolean('consistent', false) ? CONSISTENT : undefined;
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
