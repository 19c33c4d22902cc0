import { ERROR_STATUS, isErrorCode } from '@kv/shared';
import type { RawResponse } from './raw-http.js';

/** The entry fields every successful read or write carries, in the contract's order. */
const ENTRY_FIELDS = ['key', 'value', 'version', 'revision', 'createdAt', 'updatedAt', 'expiresAt'];

/**
 * Why `body` (with this status) is not the contract's JSON error body, or undefined if it is:
 * `{"error": {"code", "message", ...details}}` and nothing else, a known code whose status is
 * `status`, a non-empty message and no stack trace.
 */
export function errorBodyProblem(status: number, body: Buffer | string): string | undefined {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return `error body is not JSON: ${JSON.stringify(text.slice(0, 200))}`;
  }
  if (typeof parsed !== 'object' || parsed === null || Object.keys(parsed).join() !== 'error') {
    return `error body must be {"error": ...}: ${text.slice(0, 200)}`;
  }
  const error = (parsed as { error: unknown }).error;
  if (typeof error !== 'object' || error === null || Array.isArray(error) || !('code' in error) || !('message' in error)) {
    return `error must have code and message: ${text.slice(0, 200)}`;
  }
  // Members beside code and message are the error's details (a cursor's last key, the oldest revision held...).
  const details = Object.keys(error).filter((k) => k !== 'code' && k !== 'message');
  if (details.some((k) => /stack|trace/i.test(k))) return `error details carry a stack trace: ${text.slice(0, 200)}`;
  const { code, message } = error as { code: unknown; message: unknown };
  if (typeof code !== 'string' || !isErrorCode(code)) return `unknown error code ${JSON.stringify(code)}`;
  if (ERROR_STATUS[code] !== status) return `code ${code} is ${ERROR_STATUS[code]}, but the status was ${status}`;
  if (typeof message !== 'string' || message.length === 0) return 'error message must be a non-empty string';
  if (/\n\s+at /.test(message)) return 'error message carries a stack trace';
  return undefined;
}

/** The error code of a contract error body (assumes errorBodyProblem found none). */
export function errorCode(body: Buffer | string): string {
  return (JSON.parse(typeof body === 'string' ? body : body.toString('utf8')) as { error: { code: string } }).error.code;
}

/** Why `body` is not an entry as the contract shapes it, or undefined if it is. */
export function entryProblem(body: Buffer | string): string | undefined {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return `entry is not JSON: ${JSON.stringify(text.slice(0, 200))}`;
  }
  if (typeof parsed !== 'object' || parsed === null) return 'entry is not an object';
  const keys = Object.keys(parsed);
  if (keys.join() !== ENTRY_FIELDS.join()) return `entry fields are ${keys.join()}`;
  const e = parsed as Record<string, unknown>;
  if (typeof e.key !== 'string' || !Number.isInteger(e.version) || !Number.isInteger(e.revision)) return 'entry field types';
  return undefined;
}

/**
 * Checks a response that kv_store's handler produced (not Node's HTTP parser): a 2xx is an
 * entry, health or empty body; a 4xx carries the contract error body; a 5xx is a problem.
 * Returns the problem as text, or undefined.
 */
export function handlerResponseProblem(res: RawResponse, method: string): string | undefined {
  if (res.status >= 500) return `server error ${res.status}: ${res.body.toString('utf8').slice(0, 300)}`;
  if (method === 'HEAD' || res.status === 204 || res.status === 304) return undefined;
  if (res.status >= 400) {
    if (!/^application\/json/.test(res.headers['content-type'] ?? '')) {
      return `${res.status} without a JSON content-type: ${JSON.stringify(res.headers)}`;
    }
    return errorBodyProblem(res.status, res.body);
  }
  const text = res.body.toString('utf8');
  if (text === '{"status":"ok"}') return undefined;
  if (text.startsWith('{"revision":')) return text.includes('"changes":') ? pollProblem(text) : listingProblem(text);
  return entryProblem(text);
}

const LISTED_FIELDS = ['key', 'version', 'revision', 'createdAt', 'updatedAt', 'expiresAt', 'size'];

/** Why `text` is not a listing page as the contract shapes it, or undefined if it is. */
export function listingProblem(text: string): string | undefined {
  let page: Record<string, unknown>;
  try {
    page = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return `listing is not JSON: ${JSON.stringify(text.slice(0, 200))}`;
  }
  const fields = Object.keys(page).join();
  if (fields !== 'revision,items,prefixes,more,cursor' && fields !== 'revision,items,prefixes,more,cursor,count') {
    return `listing fields are ${fields}`;
  }
  if (!Number.isSafeInteger(page.revision) || !Array.isArray(page.items) || !Array.isArray(page.prefixes))
    return `listing is malformed: ${text.slice(0, 200)}`;
  if (typeof page.more !== 'boolean' || (page.more ? typeof page.cursor !== 'string' : page.cursor !== null)) {
    return `listing more/cursor disagree: ${text.slice(0, 200)}`;
  }
  for (const item of page.items as Array<Record<string, unknown>>) {
    const keys = Object.keys(item).join();
    if (keys !== LISTED_FIELDS.join() && keys !== [...LISTED_FIELDS, 'value'].join()) return `listed item fields are ${keys}`;
  }
  return undefined;
}

/** Why `text` is not a long-poll answer `{"revision", "changes", "more"}`, or undefined if it is. */
export function pollProblem(text: string): string | undefined {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return `long-poll answer is not JSON: ${JSON.stringify(text.slice(0, 200))}`;
  }
  if (Object.keys(body).join() !== 'revision,changes,more' || !Array.isArray(body.changes))
    return `long-poll answer is malformed: ${text.slice(0, 200)}`;
  return undefined;
}

/**
 * Node's own answers to requests its parser refuses, before kv_store sees them: 400 Bad Request,
 * 408, 413, 417, 431 and the like, each with `Connection: close` or an empty body.
 */
export function isNodeParserAnswer(res: RawResponse): boolean {
  return res.status >= 400 && res.status < 500 && res.headers['content-type'] === undefined && res.body.length <= 5;
}
