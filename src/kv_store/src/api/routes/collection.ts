import { keyPath } from '@kv/shared';
import type { Entry, MaybePromise } from '../../store/store.js';
import { StoreError } from '../../store/store-error.js';
import { entryAnswer } from '../answers.js';
import type { ApiContext } from '../context.js';
import { HttpError } from '../errors.js';
import { QueryParams } from '../query.js';
import type { Route } from '../router.js';
import { parseWriteBody } from '../write-body.js';
import { listKeys } from './listing.js';
import { isWatch, watch } from './watch.js';

/** `/v1/`: the collection of keys; GET lists them (or, with watch=true, watches them), POST creates one. */
export function collectionRoutes({ store, config, watches }: ApiContext): Route[] {
  const limits = { maxKeyBytes: config.maxKeyBytes, maxValueBytes: config.maxValueBytes };
  return [
    {
      method: 'GET',
      path: '/v1/',
      access: 'read',
      revisioned: true,
      handle(request) {
        const params = QueryParams.parse(request.query);
        if (isWatch(params)) return watch(store, watches, request, params, undefined, config.maxKeyBytes);
        return listKeys(store, params, config.maxKeyBytes);
      },
    },
    {
      method: 'POST',
      path: '/v1/',
      access: 'write',
      json: true,
      revisioned: true,
      handle(request) {
        const body = parseWriteBody(request.body, limits);
        const path = keyPath(body.key);
        let created: MaybePromise<Entry>;
        try {
          created = store.create(body.key, body.value, { ttlMs: body.ttlMs });
        } catch (err) {
          throw keyExists(err, path);
        }
        if (created instanceof Promise) {
          return created.then(
            (entry) => entryAnswer(201, entry, path),
            (err: unknown) => {
              throw keyExists(err, path);
            },
          );
        }
        return entryAnswer(201, created, path);
      },
    },
  ];
}

/** key_exists says what to do instead: PUT overwrites. */
function keyExists(err: unknown, path: string): unknown {
  if (err instanceof StoreError && err.reason === 'key_exists') {
    return new HttpError('key_exists', `${err.message}; use PUT ${path} to overwrite it`);
  }
  return err;
}
