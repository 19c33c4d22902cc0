import { errorBody, type HttpError } from '../errors.js';
import type { Entry } from '../store/entry.js';
import { etag } from './conditional.js';
import { isoTime } from './iso-time.js';

/**
 * What kv_store answers to one request, free of any transport: the HTTP server (wire-server.ts)
 * writes it to a socket, the node:http adapter (app.ts) to a ServerResponse.
 */
export interface Answer {
  readonly status: number;
  /** The JSON body; '' for none (204, 304). */
  readonly body: string;
  /** Headers besides Content-Type, Content-Length and the connection's own: name, value, name, value... */
  readonly headers: readonly string[];
  /** Close the connection after this answer (a body refused for its size). */
  readonly close: boolean;
}

/** The Content-Type of every answer with a body. */
export const JSON_TYPE = 'application/json; charset=utf-8';

const NO_HEADERS: readonly string[] = [];

/** The entry as the contract's JSON; the value is spliced in as stored, never re-serialized. */
export function entryJson(entry: Entry): string {
  const expiresAt = entry.expiresAt === null ? 'null' : `"${isoTime(entry.expiresAt)}"`;
  return `{"key":${jsonString(entry.key)},"value":${entry.value},"version":${entry.version},"revision":${entry.revision},"createdAt":"${isoTime(entry.createdAt)}","updatedAt":"${isoTime(entry.updatedAt)}","expiresAt":${expiresAt}}`;
}

/** A key as a JSON string. Keys hold no control characters or lone surrogates, so only `"` and `\` need escaping. */
function jsonString(key: string): string {
  return key.indexOf('"') === -1 && key.indexOf('\\') === -1 ? `"${key}"` : JSON.stringify(key);
}

/** An entry with its ETag (and a Location, for a created one). */
export function entryAnswer(status: number, entry: Entry, location?: string): Answer {
  const tag = etag(entry.revision);
  return {
    status,
    body: entryJson(entry),
    headers: location === undefined ? ['ETag', tag] : ['ETag', tag, 'Location', location],
    close: false,
  };
}

/** A JSON body. */
export function jsonAnswer(status: number, body: string): Answer {
  return { status, body, headers: NO_HEADERS, close: false };
}

/** A status with no body (204, 304) and optional headers. */
export function emptyAnswer(status: number, headers: readonly string[] = NO_HEADERS): Answer {
  return { status, body: '', headers, close: false };
}

/** The contract's error body for an HttpError; its `connection: close` header becomes `close`. */
export function errorAnswer(err: HttpError): Answer {
  const headers: string[] = [];
  let close = false;
  for (const [name, value] of Object.entries(err.headers)) {
    if (name === 'connection') close = value === 'close';
    else headers.push(HEADER_NAMES[name] ?? name, value);
  }
  return { status: err.status, body: errorBody(err.code, err.message), headers, close };
}

const HEADER_NAMES: Readonly<Record<string, string>> = { allow: 'Allow', 'www-authenticate': 'WWW-Authenticate' };
