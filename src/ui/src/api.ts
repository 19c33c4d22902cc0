/**
 * kv_store's public HTTP API, as the UI uses it. Requests go to ../v1/ relative to the page, so the
 * UI works wherever the store mounts it. A 401 asks for a token and retries. Values travel as
 * JSON text, never re-serialized (json-text.ts says why).
 */
import { askForToken, currentToken } from './auth.js';
import { rawMember } from './json-text.js';

/** An entry's metadata, as GET /v1/<key> and listings give it. */
export interface EntryMeta {
  readonly key: string;
  readonly version: number;
  readonly revision: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly expiresAt: string | null;
  readonly size?: number;
}

/** An entry read or written, with its value's JSON text exactly as the store returned it. */
export interface Loaded {
  readonly meta: EntryMeta;
  readonly valueText: string;
  readonly etag: string;
  /** The store's revision when it answered (KV-Revision), where it sent one. */
  readonly storeRevision: number | undefined;
}

/** One page of a listing. */
export interface ListPage {
  readonly revision: number;
  readonly items: readonly EntryMeta[];
  readonly prefixes: readonly string[];
  readonly more: boolean;
  readonly cursor?: string;
  readonly count?: number;
}

/** An answer that was not the one hoped for, with the contract's error code. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

const V1 = new URL('../v1/', document.baseURI);

/** The path of one key under /v1/: the whole key percent-encoded, so no '/', '.' or '..' inside it is read as a path step. */
export function keyPath(key: string): string {
  return encodeURIComponent(key);
}

export interface CallInit {
  readonly body?: string;
  readonly headers?: Record<string, string>;
  readonly signal?: AbortSignal;
}

/** Sends a request to /v1/<path>; on 401 asks for a token and sends it again. Throws ApiError(401) when none is given. */
export async function call(method: string, path: string, init: CallInit = {}): Promise<Response> {
  for (;;) {
    const headers = new Headers(init.headers);
    const token = currentToken();
    if (token !== null) headers.set('Authorization', `Bearer ${token}`);
    if (init.body !== undefined) headers.set('Content-Type', 'application/json');
    const response = await fetch(new URL(path, V1), {
      method,
      headers,
      body: init.body ?? null,
      signal: init.signal ?? null,
      cache: 'no-store',
    });
    if (response.status !== 401) return response;
    const error = await errorOf(response);
    if (!(await askForToken(token !== null))) throw error;
  }
}

/** The ApiError a failed answer carries (reads its body). */
export async function errorOf(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => '');
  try {
    const { error } = JSON.parse(text) as { error?: { code?: string; message?: string; details?: unknown } };
    if (error?.code !== undefined) {
      return new ApiError(response.status, error.code, error.message ?? error.code, error.details);
    }
  } catch {
    // Not the contract's error body; described below.
  }
  return new ApiError(response.status, 'http_error', `the store answered ${response.status} ${response.statusText}`.trim());
}

/** GET /v1/<key>. */
export async function readEntry(key: string, signal?: AbortSignal): Promise<Loaded> {
  const response = await call('GET', keyPath(key), signal === undefined ? {} : { signal });
  if (!response.ok) throw await errorOf(response);
  return loaded(response);
}

/** POST /v1/: creates the key; 409 key_exists if it is live. */
export async function createEntry(key: string, valueText: string, ttl?: number): Promise<Loaded> {
  const body = `{"key":${JSON.stringify(key)},"value":${checkedJson(valueText)}${ttl === undefined ? '' : `,"ttl":${ttl}`}}`;
  const response = await call('POST', '', { body });
  if (response.status !== 201) throw await errorOf(response);
  return loaded(response);
}

/** PUT /v1/<key> with If-Match: 412 version_mismatch when the key changed since `etag`. */
export async function replaceEntry(key: string, valueText: string, etag: string, ttl?: number): Promise<Loaded> {
  const body = `{"value":${checkedJson(valueText)}${ttl === undefined ? '' : `,"ttl":${ttl}`}}`;
  const response = await call('PUT', keyPath(key), { body, headers: { 'If-Match': etag } });
  if (!response.ok) throw await errorOf(response);
  return loaded(response);
}

/** DELETE /v1/<key> with If-Match. */
export async function deleteEntry(key: string, etag: string): Promise<void> {
  const response = await call('DELETE', keyPath(key), { headers: { 'If-Match': etag } });
  if (response.status !== 204) throw await errorOf(response);
  await response.body?.cancel();
}

/** The query of a listing; a cursor is sent with the same parameters as its first page. */
export interface ListQuery {
  readonly prefix: string;
  readonly start?: string;
  readonly limit: number;
  readonly count?: boolean;
  readonly cursor?: string;
}

/** GET /v1/?prefix=…&delimiter=/: one page of keys and folded prefixes. */
export async function listPage(query: ListQuery, signal?: AbortSignal): Promise<ListPage> {
  const params = new URLSearchParams({ prefix: query.prefix, delimiter: '/', limit: String(query.limit) });
  if (query.start !== undefined) params.set('start', query.start);
  if (query.count === true) params.set('count', 'true');
  if (query.cursor !== undefined) params.set('cursor', query.cursor);
  const response = await call('GET', `?${params}`, signal === undefined ? {} : { signal });
  if (!response.ok) throw await errorOf(response);
  return (await response.json()) as ListPage;
}

async function loaded(response: Response): Promise<Loaded> {
  const text = await response.text();
  const meta = JSON.parse(text) as EntryMeta & { value?: unknown };
  delete meta.value;
  const revision = Number(response.headers.get('KV-Revision'));
  return {
    meta,
    valueText: rawMember(text, 'value') ?? 'null',
    etag: response.headers.get('ETag') ?? `"${meta.revision}"`,
    storeRevision: response.headers.has('KV-Revision') && Number.isSafeInteger(revision) ? revision : undefined,
  };
}

/** The text itself, once JSON.parse accepts it: only then is it spliced into a request body. */
function checkedJson(text: string): string {
  JSON.parse(text);
  return text.trim();
}
