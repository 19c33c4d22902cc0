import { STATUS_CODES } from 'node:http';
import { type Answer, JSON_TYPE } from '../api/door.js';

/*
 * How an Answer becomes HTTP: the header fields (shared by kv_store's own server, the node:http
 * adapter and the tests that call the API directly) and, for the own server, the bytes.
 */

const STATUS_LINES: string[] = [];

/** `HTTP/1.1 <status> <reason>\r\n`, made once per status. */
export function statusLine(status: number): string {
  let line = STATUS_LINES[status];
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    STATUS_LINES[status] = line;
  }
  return line;
}

/** True when an answer with this status has no body by definition. */
function bodiless(status: number): boolean {
  return status === 204 || status === 304;
}

/** The header fields of an answer, besides the connection's own (Date, Connection, Keep-Alive): name, value, ... */
export function answerFields(answer: Answer): string[] {
  const fields: string[] = [];
  if (answer.stream !== undefined) fields.push('Content-Type', answer.type ?? JSON_TYPE, 'Transfer-Encoding', 'chunked');
  else if (!bodiless(answer.status)) {
    fields.push('Content-Type', answer.type ?? JSON_TYPE, 'Content-Length', String(Buffer.byteLength(answer.body)));
  }
  for (const field of answer.headers) fields.push(field);
  return fields;
}

/** The status line and header fields of an answer, each ending in CRLF (no blank line yet). */
export function answerHead(answer: Answer): string {
  let text = statusLine(answer.status);
  const status = answer.status;
  if (answer.stream !== undefined) text += `Content-Type: ${answer.type ?? JSON_TYPE}\r\nTransfer-Encoding: chunked\r\n`;
  else if (!bodiless(status)) text += `Content-Type: ${answer.type ?? JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(answer.body)}\r\n`;
  const extra = answer.headers;
  for (let i = 0; i < extra.length; i += 2) text += `${extra[i]}: ${extra[i + 1]}\r\n`;
  return text;
}

/** A piece of a chunked body. */
export function chunk(text: string): string {
  return `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
}

/** The text and bytes of the last chunkBytes call. */
let framedText: string | undefined;
let framedBytes: Buffer = Buffer.alloc(0);

/**
 * A piece of a chunked body as bytes, the last one kept: a watch flush writes the same text to
 * every watcher of a change (the hub renders it once), so each socket takes the same Buffer,
 * framed and encoded once, rather than encoding its own copy.
 */
export function chunkBytes(text: string): Buffer {
  if (text !== framedText) {
    framedBytes = Buffer.from(chunk(text), 'utf8');
    framedText = text;
  }
  return framedBytes;
}

/** The end of a chunked body. */
export const LAST_CHUNK = '0\r\n\r\n';

/** A refusal of malformed HTTP, as node:http answers: no body, and the connection closes. */
export function refusal(status: number): string {
  return `${statusLine(status)}Connection: close\r\nContent-Length: 0\r\n\r\n`;
}

let dateLine = '';
let dateUntil = 0;
/** The Date header, formatted once a second. */
export function currentDateLine(now: number): string {
  if (now >= dateUntil) {
    dateLine = `Date: ${new Date(now).toUTCString()}\r\n`;
    dateUntil = now - (now % 1000) + 1000;
  }
  return dateLine;
}
