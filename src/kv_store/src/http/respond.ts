import type { ServerResponse } from 'node:http';
import { errorBody, type HttpError } from '../errors.js';
import type { Entry } from '../store/entry.js';
import { etag } from './conditional.js';
import { isoTime } from './iso-time.js';

const JSON_TYPE = 'application/json; charset=utf-8';

/** The entry as the contract's JSON; the value is spliced in as stored, never re-serialized. */
export function entryJson(entry: Entry): string {
  const expiresAt = entry.expiresAt === null ? 'null' : `"${isoTime(entry.expiresAt)}"`;
  return `{"key":${jsonString(entry.key)},"value":${entry.value},"version":${entry.version},"revision":${entry.revision},"createdAt":"${isoTime(entry.createdAt)}","updatedAt":"${isoTime(entry.updatedAt)}","expiresAt":${expiresAt}}`;
}

/** A key as a JSON string. Keys hold no control characters or lone surrogates, so only `"` and `\` need escaping. */
function jsonString(key: string): string {
  return key.indexOf('"') === -1 && key.indexOf('\\') === -1 ? `"${key}"` : JSON.stringify(key);
}

/** Sends an entry with its ETag (and any extra headers, e.g. Location). */
export function sendEntry(res: ServerResponse, status: number, entry: Entry, location?: string): void {
  const body = entryJson(entry);
  const headers: Record<string, string | number> = {
    'content-type': JSON_TYPE,
    'content-length': Buffer.byteLength(body),
    etag: etag(entry.revision),
  };
  if (location !== undefined) headers.location = location;
  res.writeHead(status, headers);
  res.end(body);
}

/** Sends a JSON body. */
export function sendJson(res: ServerResponse, status: number, body: string, extra?: Readonly<Record<string, string>>): void {
  res.writeHead(status, { ...extra, 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Sends a status with no body (204, 304). */
export function sendEmpty(res: ServerResponse, status: number, headers?: Readonly<Record<string, string>>): void {
  res.writeHead(status, headers);
  res.end();
}

/** Sends the contract's error body for an HttpError. */
export function sendError(res: ServerResponse, err: HttpError): void {
  sendJson(res, err.status, errorBody(err.code, err.message), err.headers);
}
