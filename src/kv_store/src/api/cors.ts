import type { CorsOrigins } from '../config.js';
import { emptyAnswer, withHeaders } from './answers.js';
import type { Answer, BodyHandler, RequestHead } from './door.js';

/*
 * Cross-origin requests (CORS, as the Fetch standard has it), so that a browser app served from
 * another origin can call the API. Off unless KV_CORS_ORIGINS is set: '*' (any origin) or a list
 * of origins. For a request whose Origin is allowed:
 * - a preflight (OPTIONS with Access-Control-Request-Method) on a path the API serves is answered
 *   204 at once, before any token is checked (browsers send none with a preflight), allowing the
 *   path's methods and the request headers the API reads;
 * - every other answer, refusals included, says which origin may read it and exposes the headers
 *   a script needs (ETag, Location, KV-*, X-Request-Id...), so an app can read errors too.
 * Any other request is answered as if CORS were off: no CORS headers, so the browser refuses the
 * answer to the script, and OPTIONS stays 405 with Allow. With a list of origins every answer says
 * `Vary: Origin`, so that a shared cache keeps them apart.
 */

/** The request headers the API reads, which a browser app may send. */
export const CORS_ALLOW_HEADERS = ['Authorization', 'Content-Type', 'If-Match', 'If-None-Match', 'Last-Event-ID'] as const;
/** The answer headers a script may read besides the always-readable ones (Content-Type...). */
export const CORS_EXPOSE_HEADERS = [
  'ETag',
  'Location',
  'KV-Revision',
  'KV-Store-Id',
  'X-Request-Id',
  'Allow',
  'WWW-Authenticate',
  'Retry-After',
] as const;
/** How long a browser may reuse a preflight's answer, in seconds. */
export const CORS_MAX_AGE_S = 600;

const ALLOW_HEADERS = CORS_ALLOW_HEADERS.join(', ');
const EXPOSE_HEADERS = CORS_EXPOSE_HEADERS.join(', ');

/** The API's CORS: its preflight answers and the headers of every other answer. */
export interface Cors {
  /**
   * The answer to `head` when it is a preflight from an allowed origin, on a path that serves
   * `methods`; undefined when it is not one (it is then answered as any other request).
   */
  preflight(head: RequestHead, methods: readonly string[]): Answer | undefined;
  /** `result` with the CORS headers its request's Origin gets (none when it is not allowed). */
  decorate<T extends Answer | Promise<Answer> | BodyHandler>(head: RequestHead, result: T): T;
}

/** The CORS of KV_CORS_ORIGINS; undefined when it is unset (CORS off). */
export function createCors(origins: CorsOrigins | undefined): Cors | undefined {
  if (origins === undefined) return undefined;
  const any = origins === '*';
  const allowed = new Set(any ? [] : origins);
  const vary = any ? [] : ['Vary', 'Origin'];

  /** The Access-Control-Allow-Origin value for this request, or undefined when its origin is not allowed. */
  function allowOrigin(head: RequestHead): string | undefined {
    const origin = head.headers.origin;
    if (typeof origin !== 'string') return undefined; // none, or several
    if (any) return '*';
    return allowed.has(origin) ? origin : undefined;
  }

  function headersFor(head: RequestHead): readonly string[] {
    const origin = allowOrigin(head);
    if (origin === undefined) return vary;
    return ['Access-Control-Allow-Origin', origin, 'Access-Control-Expose-Headers', EXPOSE_HEADERS, ...vary];
  }

  return {
    preflight(head, methods) {
      if (head.method !== 'OPTIONS' || head.headers['access-control-request-method'] === undefined) return undefined;
      if (allowOrigin(head) === undefined) return undefined;
      return emptyAnswer(204, [
        'Access-Control-Allow-Methods',
        methods.join(', '),
        'Access-Control-Allow-Headers',
        ALLOW_HEADERS,
        'Access-Control-Max-Age',
        String(CORS_MAX_AGE_S),
      ]);
    },

    decorate<T extends Answer | Promise<Answer> | BodyHandler>(head: RequestHead, result: T): T {
      const extra = headersFor(head);
      if (extra.length === 0) return result;
      if (typeof result === 'function') return ((body: Buffer) => withCorsHeaders(result(body), extra)) as T;
      return withCorsHeaders(result as Answer | Promise<Answer>, extra) as T;
    },
  };
}

function withCorsHeaders(result: Answer | Promise<Answer>, extra: readonly string[]): Answer | Promise<Answer> {
  return result instanceof Promise ? result.then((answer) => withHeaders(answer, extra)) : withHeaders(result, extra);
}
