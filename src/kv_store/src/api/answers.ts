import { ERROR_STATUS, errorBody } from '@kv/shared';
import { type Entry, entityTag, NEVER } from '../store/store.js';
import { publicDetails, refusalMessage, StoreError, type StoreErrorDetails, type StoreErrorReason } from '../store/store-error.js';
import type { Answer } from './door.js';
import type { HttpError } from './errors.js';
import { isoTime } from './iso-time.js';

const NO_HEADERS: readonly string[] = [];

/** The entry as the contract's JSON; the value is spliced in as stored, never re-serialized. */
export function entryJson(entry: Entry): string {
  const expiresAt = entry.expiresAt === NEVER ? 'null' : `"${isoTime(entry.expiresAt)}"`;
  return `{"key":${jsonString(entry.key)},"value":${entry.value},"version":${entry.version},"revision":${entry.revision},"createdAt":"${isoTime(entry.createdAt)}","updatedAt":"${isoTime(entry.updatedAt)}","expiresAt":${expiresAt}}`;
}

/** A key as a JSON string. Keys hold no control characters or lone surrogates, so only `"` and `\` need escaping. */
export function jsonString(key: string): string {
  return key.indexOf('"') === -1 && key.indexOf('\\') === -1 ? `"${key}"` : JSON.stringify(key);
}

/** The ETag header of an entry: its tag in quotes. */
export function etag(entry: Pick<Entry, 'revision'>): string {
  return `"${entityTag(entry)}"`;
}

/** An entry with its ETag (and a Location, for a created one). */
export function entryAnswer(status: number, entry: Entry, location?: string): Answer {
  const tag = etag(entry);
  return {
    status,
    headers: location === undefined ? ['ETag', tag] : ['ETag', tag, 'Location', location],
    body: entryJson(entry),
    type: undefined,
    close: false,
    stream: undefined,
  };
}

/** A JSON body, as text or as its UTF-8 bytes. */
export function jsonAnswer(status: number, body: string | Buffer, headers: readonly string[] = NO_HEADERS): Answer {
  return { status, headers, body, type: undefined, close: false, stream: undefined };
}

/** A status with no body (204, 304) and optional headers. */
export function emptyAnswer(status: number, headers: readonly string[] = NO_HEADERS): Answer {
  return { status, headers, body: '', type: undefined, close: false, stream: undefined };
}

/** A body of another type than JSON (the web UI's files, metrics). */
export function typedAnswer(status: number, type: string, body: string | Buffer, headers: readonly string[] = NO_HEADERS): Answer {
  return { status, headers, body, type, close: false, stream: undefined };
}

/**
 * A store's refusal as its answer, under its reason's code, with no error object made for it: a
 * route that meets one itself (a read's missing key) answers it directly, as it would a hit.
 */
export function storeRefusal(reason: StoreErrorReason, details: StoreErrorDetails, message = refusalMessage(reason, details)): Answer {
  const body = errorBody(reason, message, publicDetails(reason, details));
  return { status: ERROR_STATUS[reason], headers: NO_HEADERS, body, type: undefined, close: false, stream: undefined };
}

/** The contract's error answer for a refusal; an HttpError's `connection: close` header becomes `close`. */
export function errorAnswer(err: HttpError | StoreError): Answer {
  if (err instanceof StoreError) return storeRefusal(err.reason, err.details, err.message);
  const headers: string[] = [];
  let close = false;
  for (const [name, value] of Object.entries(err.headers)) {
    if (name === 'connection') close = value === 'close';
    else headers.push(HEADER_NAMES[name] ?? name, value);
  }
  return { status: err.status, headers, body: err.body(), type: undefined, close, stream: undefined };
}

/** The same answer with `extra` headers after its own. */
export function withHeaders(answer: Answer, extra: readonly string[]): Answer {
  return {
    status: answer.status,
    headers: answer.headers.length === 0 ? extra : [...answer.headers, ...extra],
    body: answer.body,
    type: answer.type,
    close: answer.close,
    stream: answer.stream,
  };
}

const HEADER_NAMES: Readonly<Record<string, string>> = {
  allow: 'Allow',
  'www-authenticate': 'WWW-Authenticate',
  'retry-after': 'Retry-After',
};
