import { type KvStore, type MaybePromise, whenReady } from '../../store/store.js';
import { jsonAnswer } from '../answers.js';
import type { Answer } from '../door.js';
import { HttpError } from '../errors.js';
import { invalidQuery, type QueryParams } from '../query.js';
import type { ApiRequest } from '../router.js';
import type { WatchTarget } from '../watch/range-index.js';
import { STREAM_TYPES, type StreamForm } from '../watch/watch-format.js';
import { historyCompacted, type WatchHub, type WatchRequest } from '../watch/watch-hub.js';
import { keyBound } from './listing.js';

/** The parameters of a watch of a range (`GET /v1/?watch=true`) and of one key (`GET /v1/<key>?watch=true`). */
const RANGE_PARAMETERS = ['watch', 'prefix', 'start', 'end', 'after', 'values', 'prev', 'wait'];
const KEY_PARAMETERS = ['watch', 'after', 'values', 'prev', 'wait'];
/** The longest long-poll, in seconds. */
const MAX_WAIT_S = 300;

/** True when the query asks for a watch (`watch=true`). */
export function isWatch(params: QueryParams): boolean {
  return params.boolean('watch', false);
}

/**
 * A watch: of one key (`key` given) or of a range. SSE (`Accept: text/event-stream`), NDJSON
 * (`Accept: application/x-ndjson`) or, with `wait=<seconds>`, a long-poll; from `after` (or
 * `Last-Event-ID`, which wins; default: now). The store's revision and id go on the answer as on
 * every answer under /v1/.
 */
export function watch(
  store: KvStore,
  watches: WatchHub,
  request: ApiRequest,
  params: QueryParams,
  key: string | undefined,
  maxKeyBytes: number,
): Answer | Promise<Answer> {
  params.only(key === undefined ? RANGE_PARAMETERS : KEY_PARAMETERS, key === undefined ? 'a watch' : "a key's watch");
  const target: WatchTarget =
    key !== undefined
      ? { key }
      : {
          range: {
            prefix: keyBound(params, 'prefix', maxKeyBytes) ?? '',
            start: keyBound(params, 'start', maxKeyBytes),
            end: keyBound(params, 'end', maxKeyBytes),
          },
        };
  const prev = params.boolean('prev', false);
  if (prev && !store.capabilities.previousValues)
    throw invalidQuery("this store's backend does not record previous values: leave out prev=true");
  const waitS = params.seconds('wait', MAX_WAIT_S);
  const form = waitS === undefined ? streamForm(request.header('accept')) : undefined;
  const after = startRevision(store, request, params);
  const watchRequest: WatchRequest = { target, after, view: { values: params.boolean('values', true), prev } };
  return whenReady(reached(store, after), () =>
    whenReady(store.changesSince(after, 0), (held) => {
      if ('compacted' in held) throw historyCompacted(after, held.oldestRevision);
      if (form === undefined) return whenReady(watches.poll(watchRequest, (waitS as number) * 1000), (body) => jsonAnswer(200, body));
      const stream = watches.openStream(watchRequest, form);
      return {
        status: 200,
        headers: ['Cache-Control', 'no-cache', 'X-Accel-Buffering', 'no'],
        body: '',
        type: STREAM_TYPES[form],
        close: false,
        stream,
      };
    }),
  );
}

/**
 * Waits, for a store that can catch up (a node of a store shared by several: one node's
 * revision may be ahead of another's for a moment), until it has reached `after`; a store that
 * cannot, or a revision it never reaches, is 400 invalid_query.
 */
function reached(store: KvStore, after: number): MaybePromise<void> {
  const current = store.revision;
  if (after <= current || store.catchUp === undefined) return undefined;
  return whenReady(store.catchUp(after), (ok) => {
    if (!ok) throw notReached(after, store.revision);
  });
}

function notReached(after: number, current: number): HttpError {
  return invalidQuery(
    `revision ${after} is after the store's current revision ${current}: this store has not reached it (a KV-Store-Id other than the one you watched means its history was lost)`,
  );
}

/** The revision a watch starts after: Last-Event-ID, else `after`, else the current revision. */
function startRevision(store: KvStore, request: ApiRequest, params: QueryParams): number {
  const current = store.revision;
  const lastEventId = request.header('last-event-id');
  let after: number;
  if (lastEventId !== undefined) {
    if (!/^\d{1,16}$/.test(lastEventId.trim())) {
      throw new HttpError('invalid_header', `Last-Event-ID must be a revision (a whole number), got '${lastEventId}'`);
    }
    after = Number(lastEventId.trim());
  } else after = params.integer('after', current, 0, Number.MAX_SAFE_INTEGER) as number;
  if (after > current && store.catchUp === undefined) throw notReached(after, current);
  return after;
}

/** SSE or NDJSON, whichever the Accept header names first; neither is 400, saying how to ask. */
function streamForm(accept: string | undefined): StreamForm {
  for (const part of (accept ?? '').split(',')) {
    const type = (part.split(';')[0] as string).trim().toLowerCase();
    if (type === 'text/event-stream') return 'sse';
    if (type === 'application/x-ndjson') return 'ndjson';
  }
  throw invalidQuery(
    'a watch is a stream or a long-poll: send Accept: text/event-stream (Server-Sent Events) or Accept: application/x-ndjson, or add wait=<seconds> for a long-poll',
  );
}
