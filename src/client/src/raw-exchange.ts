import type { JsonValue } from '@kv/shared';
import { KvUnreachableError } from './kv-unreachable-error.js';

/** One request as a caller describes it, for recording exactly what was sent. */
export interface RawRequest {
  readonly method: string;
  /** The path under the base URL, query string included, e.g. `/v1/foo`. */
  readonly path: string;
  /** Sent as JSON text with `Content-Type: application/json`. */
  readonly body?: JsonValue | undefined;
  /** Sent as is, with `Content-Type: application/json`, in place of `body` (e.g. to send broken JSON). */
  readonly bodyText?: string | undefined;
  /** Extra request headers (If-Match, ...); the client adds Authorization itself. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** kv_store's answer, untouched: status, headers (lower-case names) and body text. */
export interface RawResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly text: string;
  /** The full URL the request went to. */
  readonly url: string;
  readonly durationMs: number;
}

/** How requests are sent: the resolved settings of a KvClient. */
export interface ExchangeSettings {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly fetch: typeof globalThis.fetch;
  readonly token: string | undefined;
}

/** Sends one request and reads the whole answer within the timeout; throws KvUnreachableError when none comes. */
export async function exchange(settings: ExchangeSettings, request: RawRequest): Promise<RawResponse> {
  const url = `${settings.baseUrl}${request.path}`;
  const headers: Record<string, string> = { accept: 'application/json', ...request.headers };
  if (settings.token !== undefined) headers.authorization = `Bearer ${settings.token}`;
  let body: string | undefined = request.bodyText;
  if (body === undefined && request.body !== undefined) body = JSON.stringify(request.body);
  if (body !== undefined) headers['content-type'] = 'application/json';

  const start = performance.now();
  try {
    const response = await settings.fetch(url, {
      method: request.method,
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(settings.timeoutMs),
    });
    const text = await response.text();
    const responseHeaders: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      responseHeaders[name] = value;
    });
    return { status: response.status, headers: responseHeaders, text, url, durationMs: Math.round(performance.now() - start) };
  } catch (err) {
    throw unreachable(err, request.method, url, settings.timeoutMs);
  }
}

/** The JSON body of an answer, or undefined when it has none; throws KvUnreachableError when it is not JSON. */
export function parseJsonBody(response: RawResponse, method = 'request'): JsonValue | undefined {
  if (response.text.trim() === '') return undefined;
  try {
    return JSON.parse(response.text) as JsonValue;
  } catch {
    throw new KvUnreachableError(
      'invalid_response',
      response.url,
      `kv_store at ${response.url} answered ${method} with ${response.status} and a body that is not JSON: ${snippet(response.text)}`,
    );
  }
}

function unreachable(err: unknown, method: string, url: string, timeoutMs: number): KvUnreachableError {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return new KvUnreachableError('timeout', url, `kv_store at ${url} did not answer ${method} within ${timeoutMs} ms`, { cause: err });
  }
  return new KvUnreachableError('network', url, `kv_store at ${url} could not be reached (${method}): ${describe(err)}`, { cause: err });
}

/** The most telling part of a fetch failure: undici hides the socket error in `cause`. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (cause.message !== '') return cause.message;
    if (code !== undefined) return code;
  }
  return err.message;
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(flat.length > 80 ? `${flat.slice(0, 80)}...` : flat);
}

/** A streamed answer: status and headers now, the body as it comes. */
export interface StreamResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly url: string;
  /** The body; null when there is none. */
  readonly body: ReadableStream<Uint8Array> | null;
}

/**
 * Sends one request and resolves as soon as the answer's head is in (within the timeout), with
 * its body as a stream: for watches. `signal` ends the request (and the stream).
 */
export async function openStream(settings: ExchangeSettings, request: RawRequest, signal: AbortSignal): Promise<StreamResponse> {
  const url = `${settings.baseUrl}${request.path}`;
  const headers: Record<string, string> = { ...request.headers };
  if (settings.token !== undefined) headers.authorization = `Bearer ${settings.token}`;
  // The timeout covers the head only: the body of a watch goes on as long as the caller wants.
  const controller = new AbortController();
  const abort = () => controller.abort(signal.reason);
  signal.addEventListener('abort', abort, { once: true });
  const timer = setTimeout(() => controller.abort(new DOMException('timed out', 'TimeoutError')), settings.timeoutMs);
  try {
    const response = await settings.fetch(url, { method: request.method, headers, redirect: 'manual', signal: controller.signal });
    clearTimeout(timer);
    const responseHeaders: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      responseHeaders[name] = value;
    });
    return { status: response.status, headers: responseHeaders, url, body: response.body };
  } catch (err) {
    clearTimeout(timer);
    throw unreachable(err, request.method, url, settings.timeoutMs);
  }
}
