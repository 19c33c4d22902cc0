import type { CreatedEntry, StoredEntry } from './entry.js';
import { entryProblems, isJsonObject, type JsonObject, type JsonValue, keyPath } from '@kv/shared';
import { KvError } from './kv-error.js';
import { KvUnreachableError } from './kv-unreachable-error.js';
import { type ListOptions, type ListPage, Listing, listQuery } from './listing.js';
import {
  type ExchangeSettings,
  exchange,
  openStream,
  parseJsonBody,
  type RawRequest,
  type RawResponse,
  type StreamResponse,
} from './raw-exchange.js';
import { type TxnAnswer, TxnBuilder, type TxnSuccess, txnOutcome } from './txn.js';
import { Watch, type WatchOptions } from './watching.js';

/** Where kv_store is and how to talk to it. */
export interface KvClientOptions {
  /** e.g. `http://127.0.0.1:8080`; a trailing slash is ignored. */
  readonly baseUrl: string;
  /** Longest wait for a whole answer, per call; 5000 ms by default. */
  readonly timeoutMs?: number | undefined;
  /** A fetch to use in place of the global one (tests, instrumentation). */
  readonly fetch?: typeof globalThis.fetch | undefined;
  /** Sent as `Authorization: Bearer <token>` on every call. */
  readonly token?: string | undefined;
}

/** Options of a create (POST). */
export interface CreateOptions {
  /** Seconds until the entry expires. */
  readonly ttl?: number | undefined;
}

/** Options of a replace (PUT). */
export interface ReplaceOptions extends CreateOptions {
  /** Only replace if the entry still has this ETag (412 version_mismatch otherwise). */
  readonly ifMatch?: string | undefined;
}

/** Options of a read (GET). */
export interface GetOptions {
  /** An ETag the caller holds: if it is still current the answer is NotModified. */
  readonly ifNoneMatch?: string | undefined;
  /**
   * A linearizable read (`?consistent=true`): it sees every write acknowledged anywhere before it.
   * It matters with KV_BACKEND=etcd, whose nodes otherwise read their cache, which may lag other
   * nodes' writes by a moment (never the node's own).
   */
  readonly consistent?: boolean | undefined;
}

/** Options of a delete (DELETE). */
export interface DeleteOptions {
  /** Only delete if the entry still has this ETag (412 version_mismatch otherwise). */
  readonly ifMatch?: string | undefined;
}

/** A conditional read found the caller's copy current (304). */
export interface NotModified {
  readonly notModified: true;
  readonly etag: string;
}

/** What /healthz answers. */
export interface Health {
  readonly status: string;
}

/** One check of /readyz: its name, and why it fails when it does. */
export interface ReadinessCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly reason?: string;
}

/** What /readyz?verbose answers: should kv_store get traffic, and every check. */
export interface Readiness {
  readonly ready: boolean;
  readonly checks: readonly ReadinessCheck[];
}

const DEFAULT_TIMEOUT_MS = 5000;

/** A typed client for the kv_store HTTP API; every call has a timeout. */
export class KvClient {
  /** The base URL without a trailing slash. */
  readonly baseUrl: string;
  private readonly settings: ExchangeSettings;

  constructor(options: KvClientOptions) {
    this.baseUrl = normalizeBaseUrl(options.baseUrl);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError(`timeoutMs must be a positive number, got ${timeoutMs}`);
    this.settings = {
      baseUrl: this.baseUrl,
      timeoutMs,
      fetch: options.fetch ?? globalThis.fetch,
      token: options.token,
    };
  }

  /** Sends any request and returns the answer untouched, whatever its status; throws only KvUnreachableError. */
  request(request: RawRequest): Promise<RawResponse> {
    return exchange(this.settings, request);
  }

  /** Sends any request and resolves once the answer's head is in, its body a stream (watches); throws only KvUnreachableError. */
  requestStream(request: RawRequest, signal: AbortSignal): Promise<StreamResponse> {
    return openStream(this.settings, request, signal);
  }

  /** Creates `key` (POST /v1/); KvError 409 key_exists if it is live. */
  async create(key: string, value: JsonValue, options: CreateOptions = {}): Promise<CreatedEntry> {
    const body: JsonObject = options.ttl === undefined ? { key, value } : { key, value, ttl: options.ttl };
    const response = await this.call({ method: 'POST', path: '/v1/', body }, 201);
    const location = response.headers.location;
    if (location === undefined) throw invalid(response, 'POST', 'a 201 without a Location header');
    return { ...toStoredEntry(response, 'POST'), location };
  }

  /** Reads `key` (GET); KvError 404 key_not_found if it is not live. */
  get(key: string, options?: GetOptions & { readonly ifNoneMatch?: undefined }): Promise<StoredEntry>;
  /** Reads `key`, or NotModified if `ifNoneMatch` is still its ETag. */
  get(key: string, options: GetOptions): Promise<StoredEntry | NotModified>;
  async get(key: string, options: GetOptions = {}): Promise<StoredEntry | NotModified> {
    const headers = options.ifNoneMatch === undefined ? undefined : { 'if-none-match': options.ifNoneMatch };
    const path = options.consistent === true ? `${keyPath(key)}?consistent=true` : keyPath(key);
    const response = await this.call({ method: 'GET', path, headers }, 200, 304);
    if (response.status === 304) return { notModified: true, etag: response.headers.etag ?? options.ifNoneMatch ?? '' };
    return toStoredEntry(response, 'GET');
  }

  /** Overwrites a live `key` (PUT; version + 1); KvError 404 if it is not live, 412 if `ifMatch` is stale. */
  async replace(key: string, value: JsonValue, options: ReplaceOptions = {}): Promise<StoredEntry> {
    const body: JsonObject = options.ttl === undefined ? { value } : { value, ttl: options.ttl };
    const headers = options.ifMatch === undefined ? undefined : { 'if-match': options.ifMatch };
    const response = await this.call({ method: 'PUT', path: keyPath(key), body, headers }, 200);
    return toStoredEntry(response, 'PUT');
  }

  /** Deletes a live `key` (DELETE); KvError 404 if it is not live, 412 if `ifMatch` is stale. */
  async delete(key: string, options: DeleteOptions = {}): Promise<void> {
    const headers = options.ifMatch === undefined ? undefined : { 'if-match': options.ifMatch };
    await this.call({ method: 'DELETE', path: keyPath(key), headers }, 204);
  }

  /** A transaction to build and `commit` (POST /txn): checks, then ops, all or nothing. */
  txn(): TxnBuilder {
    return new TxnBuilder((body) => this.sendTxn({ method: 'POST', path: '/txn', body }));
  }

  /**
   * Sends a transaction written as JSON text (`{"checks": [...], "ops": [...]}`) as it is, so
   * its values keep their exact text (12345678901234567890 and 1.50 stay as written; JSON.parse
   * would change them), and reads the outcome as `txn().commit()` does: TxnSuccess, or
   * TxnFailedError naming every failed check and op. kv_store checks the text (400 invalid_body).
   */
  async txnText(text: string): Promise<TxnSuccess> {
    return txnOutcome(await this.sendTxn({ method: 'POST', path: '/txn', bodyText: text }));
  }

  private async sendTxn(request: RawRequest): Promise<TxnAnswer> {
    const response = await this.call(request, 200, 409);
    return { status: response.status, body: parseJsonBody(response, 'POST'), invalid: (what) => invalid(response, 'POST', what) };
  }

  /**
   * One page of a listing (GET /v1/): the first, or the one `cursor` (the previous page's)
   * points at, with the same options as the first page. KvError 410 cursor_expired when the
   * listing is no longer held.
   */
  async listPage(options: ListOptions = {}, cursor?: string): Promise<ListPage> {
    const query = listQuery(options, cursor);
    const response = await this.call({ method: 'GET', path: query === '' ? '/v1/' : `/v1/?${query}` }, 200);
    const body = parseJsonBody(response, 'GET');
    if (!isJsonObject(body) || typeof body.revision !== 'number' || !Array.isArray(body.items) || !Array.isArray(body.prefixes)) {
      throw invalid(response, 'GET', 'a listing page without revision, items and prefixes');
    }
    return body as unknown as ListPage;
  }

  /**
   * Every key of a listing, in order, as an async iterator that follows the cursors; all pages
   * at one revision (`listing.revision`, once the first page is in).
   */
  list(options: ListOptions = {}): Listing {
    return new Listing((cursor) => this.listPage(options, cursor));
  }

  /**
   * Follows every change to a key or a range, as an async iterator of one event per revision.
   * It reconnects and resumes by revision by itself; a history the store no longer holds is
   * KvHistoryCompactedError (list again, then watch after the listing's revision).
   */
  watch(options: WatchOptions = {}): Watch {
    return new Watch(this.settings, options);
  }

  /** Asks /healthz; resolves when kv_store says it is up. */
  async health(): Promise<Health> {
    const response = await this.call({ method: 'GET', path: '/healthz' }, 200);
    const body = parseJsonBody(response, 'GET');
    if (!isJsonObject(body) || typeof body.status !== 'string') {
      throw invalid(response, 'GET', 'a health answer without a status');
    }
    return { status: body.status };
  }

  /** Asks /readyz?verbose; not being ready (503) is an answer, not an error. */
  async readiness(): Promise<Readiness> {
    const response = await this.call({ method: 'GET', path: '/readyz?verbose' }, 200, 503);
    const body = parseJsonBody(response, 'GET');
    const checks = isJsonObject(body) ? body.checks : undefined;
    if (!Array.isArray(checks) || !checks.every(isCheck)) throw invalid(response, 'GET', 'a readiness answer without its checks');
    return { ready: response.status === 200, checks: checks.map((c) => ({ ...c })) };
  }

  /** Sends `request`; any status but `ok` becomes KvError (or KvUnreachableError when the body is not a contract error). */
  private async call(request: RawRequest, ...ok: number[]): Promise<RawResponse> {
    const response = await this.request(request);
    if (ok.includes(response.status)) return response;
    throw refusal(response, request.method);
  }
}

/**
 * What an answer that is not the one asked for means: KvError with the contract's code and
 * details, or KvUnreachableError when its body is not the contract's error (for callers of
 * `request`, which never throws on a status).
 */
export function refusal(response: RawResponse, method: string): KvError | KvUnreachableError {
  const body = parseJsonBody(response, method);
  const error = isJsonObject(body) ? body.error : undefined;
  if (isJsonObject(error)) {
    const { code, message, ...details } = error;
    if (typeof code === 'string' && typeof message === 'string') return new KvError(response.status, code, message, details);
  }
  return invalid(response, method, `${response.status} without the contract's error body`);
}

function isCheck(value: unknown): value is ReadinessCheck {
  if (!isJsonObject(value)) return false;
  const { name, ok, reason } = value;
  return typeof name === 'string' && typeof ok === 'boolean' && (reason === undefined || typeof reason === 'string');
}

function toStoredEntry(response: RawResponse, method: string): StoredEntry {
  const body = parseJsonBody(response, method);
  const problems = entryProblems(body);
  if (problems.length > 0) throw invalid(response, method, `a body that is not an entry (${problems.join('; ')})`);
  const etag = response.headers.etag;
  if (etag === undefined) throw invalid(response, method, 'an entry without an ETag header');
  return { ...(body as unknown as StoredEntry), etag };
}

function invalid(response: RawResponse, method: string, what: string): KvUnreachableError {
  return new KvUnreachableError('invalid_response', response.url, `kv_store at ${response.url} answered ${method} with ${what}`);
}

function normalizeBaseUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new TypeError(`baseUrl must be an http:// or https:// URL, got '${baseUrl}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`baseUrl must be an http:// or https:// URL, got '${baseUrl}'`);
  }
  if (url.search !== '' || url.hash !== '') throw new TypeError(`baseUrl must not have a query or fragment, got '${baseUrl}'`);
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}
