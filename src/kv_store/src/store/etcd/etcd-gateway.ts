/*
 * How kv_store talks to etcd: etcd's own JSON gateway (each member's `/v3/...` HTTP endpoints,
 * grpc-gateway in front of its gRPC server), driven by undici. docs/etcd-backend.md says why this
 * and not a gRPC client, with the numbers. Every etcd call the backend makes passes through this
 * one module, so the transport can be swapped without touching the rest.
 *
 * On the wire keys and values are base64, int64 fields are decimal strings, and fields at their
 * default value are left out (`succeeded` of a failed txn, `kvs` of an empty range, an event's
 * `type` when it is a PUT). The types below say so.
 *
 * A call goes to one member; when it fails, the next call goes to the next member. What a
 * failure means for a write is the caller's first question, so every failure is an EtcdError
 * that says it:
 * - `unreachable`: nothing reached etcd (connection refused, no route, connect timeout), or etcd
 *   refused before proposing anything: nothing was applied.
 * - `ambiguous`: the request was sent but no answer came (the connection dropped, our deadline
 *   passed, etcd's "request timed out" or "leader changed"): a write may or may not be applied,
 *   now or a little later.
 * - `refused`: etcd answered with an error (too large, too many operations, no space, compacted,
 *   lease not found): nothing was applied; `code` is the gRPC code, `message` etcd's words.
 *
 * Auth: with a user name, the first call authenticates (`/v3/auth/authenticate`) and every call
 * carries the token; etcd's simple tokens expire (`--auth-token-ttl`, 300 s by default), so a call
 * refused with "invalid auth token" authenticates again and is sent once more (it was refused,
 * so nothing was applied). TLS: the CA, certificate and key go to undici's connector.
 */

import { createRequire } from 'node:module';
import type { Pool } from 'undici';
import { callName, EtcdTelemetry } from './etcd-telemetry.js';

/**
 * undici is loaded when the first gateway is made, not when kv_store starts: a kv_store that
 * keeps its data in memory never uses it, and loading it costs about 80 ms of every start.
 */
const load = createRequire(import.meta.url);

/** How to reach an etcd cluster. */
export interface EtcdConnectionOptions {
  /** Client URLs of the members, http:// or https://. */
  readonly endpoints: readonly string[];
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** PEM contents for https endpoints: the CA to trust, and a client certificate and key. */
  readonly tls?: { readonly ca?: string | undefined; readonly cert?: string | undefined; readonly key?: string | undefined } | undefined;
  /** How long one call may wait for an answer before it counts as ambiguous (default 2000 ms). */
  readonly attemptTimeoutMs?: number | undefined;
}

/** etcd's ResponseHeader (int64 as decimal strings). */
export interface EtcdHeader {
  readonly revision?: string;
  readonly member_id?: string;
  readonly raft_term?: string;
}

/** mvccpb.KeyValue as the gateway writes it: key and value base64; absent fields are zero. */
export interface EtcdKeyValue {
  readonly key: string;
  readonly value?: string;
  readonly create_revision?: string;
  readonly mod_revision?: string;
  readonly version?: string;
  readonly lease?: string;
}

export interface EtcdRangeResponse {
  readonly header?: EtcdHeader;
  readonly kvs?: readonly EtcdKeyValue[];
  readonly more?: boolean;
  readonly count?: string;
}

export interface EtcdTxnResponse {
  readonly header?: EtcdHeader;
  readonly succeeded?: boolean;
  readonly responses?: readonly {
    readonly response_range?: EtcdRangeResponse;
    readonly response_put?: { readonly header?: EtcdHeader };
    readonly response_delete_range?: { readonly header?: EtcdHeader; readonly deleted?: string };
  }[];
}

export interface EtcdEvent {
  /** Absent for a PUT (the enum's zero value). */
  readonly type?: 'PUT' | 'DELETE';
  readonly kv: EtcdKeyValue;
  /** The key before the event, when the watch asked for it (prev_kv). */
  readonly prev_kv?: EtcdKeyValue;
}

/** One message of a watch stream. */
export interface EtcdWatchMessage {
  readonly header?: EtcdHeader;
  readonly created?: boolean;
  readonly canceled?: boolean;
  readonly compact_revision?: string;
  readonly cancel_reason?: string;
  readonly events?: readonly EtcdEvent[];
}

/** What a failed call means for a write (see the header comment). */
export type EtcdFailure = 'unreachable' | 'ambiguous' | 'refused';

/** gRPC status codes etcd answers with, by name. */
export const GRPC = {
  invalidArgument: 3,
  notFound: 5,
  failedPrecondition: 9,
  resourceExhausted: 8,
  outOfRange: 11,
  unavailable: 14,
  unauthenticated: 16,
} as const;

/** A failed etcd call. */
export class EtcdError extends Error {
  override readonly name = 'EtcdError';

  constructor(
    readonly failure: EtcdFailure,
    message: string,
    /** The gRPC code etcd answered with (refused and some ambiguous failures). */
    readonly code?: number,
  ) {
    super(message);
  }
}

const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * Node's codes for an etcd certificate it did not accept (OpenSSL's verification results, and
 * the host name check): the connection ends in its TLS handshake, before any request is sent.
 */
const CERTIFICATE_FAILURES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * TLS alerts and errors that end a handshake: etcd processes nothing from a connection whose
 * handshake failed. The usual causes: etcd asks for a client certificate (--client-cert-auth)
 * and got none or one it does not trust, or the endpoint speaks plain HTTP.
 */
const HANDSHAKE_FAILURES = new Set([
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

/** What etcd's gateway answers a client certificate with a Common Name when auth is on (etcd's embed/serve.go). */
const GATEWAY_CN_REFUSAL = 'CommonName of client sending a request against gateway';

/** The base64 of a string's UTF-8. */
export function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** The UTF-8 string of a base64 field (absent: ''). */
export function unb64(field: string | undefined): string {
  return field === undefined ? '' : Buffer.from(field, 'base64').toString('utf8');
}

/** An int64 field as a number (absent: 0). Revisions and versions stay far below 2^53. */
export function int(field: string | undefined): number {
  return field === undefined ? 0 : Number(field);
}

export class EtcdGateway {
  private readonly pools: Pool[];
  private readonly attemptTimeoutMs: number;
  private current = 0;
  private token: string | undefined;
  private authenticating: Promise<string> | undefined;
  private closed = false;

  constructor(
    private readonly options: EtcdConnectionOptions,
    /** Where each request's time and failure is reported (etcd-telemetry.ts). */
    private readonly telemetry: EtcdTelemetry = new EtcdTelemetry(),
  ) {
    if (options.endpoints.length === 0) throw new Error('no etcd endpoints');
    const tls = options.tls;
    const connect = tls === undefined ? undefined : { ca: tls.ca, cert: tls.cert, key: tls.key };
    const undici = load('undici') as typeof import('undici');
    this.pools = options.endpoints.map(
      (url) => new undici.Pool(url, { connections: 32, connectTimeout: 2000, keepAliveTimeout: 30_000, ...(connect ? { connect } : {}) }),
    );
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 2000;
  }

  get endpoints(): readonly string[] {
    return this.options.endpoints;
  }

  /** The member the next call goes to. */
  get endpoint(): string {
    return this.options.endpoints[this.current] as string;
  }

  /** From now on calls go to the next member (after a failure on this one). */
  rotate(from: number = this.current): void {
    if (from === this.current) this.current = (this.current + 1) % this.pools.length;
  }

  /** POSTs one request to the current member and returns its answer; throws EtcdError. */
  async call<T>(path: string, body: unknown, timeoutMs = this.attemptTimeoutMs): Promise<T> {
    const index = this.current;
    try {
      return await this.send<T>(index, path, JSON.stringify(body), timeoutMs, true);
    } catch (err) {
      if (err instanceof EtcdError && err.failure !== 'refused') this.rotate(index);
      throw err;
    }
  }

  /** POSTs one request to the member at `endpoint` (no rotation); throws EtcdError. */
  callOn<T>(endpoint: string, path: string, body: unknown, timeoutMs = this.attemptTimeoutMs): Promise<T> {
    const index = this.options.endpoints.indexOf(endpoint);
    if (index === -1) throw new Error(`${endpoint} is not one of the etcd endpoints`);
    return this.send<T>(index, path, JSON.stringify(body), timeoutMs, true);
  }

  /**
   * Opens a watch stream on the current member: `onMessage` gets every message in order. Resolves
   * when the stream ends (it only ends when etcd or `signal` ends it); throws EtcdError.
   */
  async watch(request: unknown, signal: AbortSignal, onMessage: (message: EtcdWatchMessage) => void): Promise<void> {
    const index = this.current;
    try {
      await this.stream(index, request, signal, onMessage);
    } catch (err) {
      if (signal.aborted) return;
      const failure = this.failed(err);
      this.rotate(index);
      throw failure;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.pools.map((p) => p.destroy()));
  }

  private async send<T>(index: number, path: string, body: string, timeoutMs: number, mayAuthenticate: boolean): Promise<T> {
    try {
      return await this.timed<T>(index, path, body, timeoutMs);
    } catch (err) {
      // An auth token etcd no longer takes (it expired, or etcd restarted): a new one, and once more.
      if (!(err instanceof EtcdError && err.code === GRPC.unauthenticated && this.options.username !== undefined && mayAuthenticate))
        throw err;
      this.token = undefined;
      return this.timed<T>(index, path, body, timeoutMs);
    }
  }

  /** One request, reported to the telemetry (its time, and how it failed) when something observes it. */
  private async timed<T>(index: number, path: string, body: string, timeoutMs: number): Promise<T> {
    if (this.telemetry.observer === undefined) return this.request<T>(index, path, body, timeoutMs);
    const started = performance.now();
    let failure: EtcdFailure | undefined;
    try {
      return await this.request<T>(index, path, body, timeoutMs);
    } catch (err) {
      failure = err instanceof EtcdError ? err.failure : 'ambiguous';
      throw err;
    } finally {
      this.telemetry.request(callName(path), (performance.now() - started) / 1000, failure);
    }
  }

  private async request<T>(index: number, path: string, body: string, timeoutMs: number): Promise<T> {
    const pool = this.pools[index] as Pool;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.options.username !== undefined) headers.authorization = await this.authToken(index);
    let status: number;
    let text: string;
    try {
      // undici's own timeouts: cheaper than an AbortSignal per call, and they fail as ambiguous too.
      const res = await pool.request({ method: 'POST', path, body, headers, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      throw this.failed(err);
    }
    if (status === 200) return JSON.parse(text) as T;
    throw parseProblem(status, text);
  }

  private async stream(index: number, request: unknown, signal: AbortSignal, onMessage: (m: EtcdWatchMessage) => void): Promise<void> {
    const pool = this.pools[index] as Pool;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.options.username !== undefined) headers.authorization = await this.authToken(index);
    const res = await pool.request({
      method: 'POST',
      path: '/v3/watch',
      body: JSON.stringify(request),
      headers,
      signal,
      headersTimeout: this.attemptTimeoutMs,
      bodyTimeout: 0,
    });
    if (res.statusCode !== 200) throw parseProblem(res.statusCode, await res.body.text());
    let pending = '';
    for await (const chunk of res.body) {
      pending += (chunk as Buffer).toString('utf8');
      let end = pending.indexOf('\n');
      while (end !== -1) {
        const line = pending.slice(0, end).trim();
        pending = pending.slice(end + 1);
        end = pending.indexOf('\n');
        if (line === '') continue;
        const parsed = JSON.parse(line) as { result?: EtcdWatchMessage; error?: { message?: string; code?: number } };
        if (parsed.error !== undefined) {
          throw new EtcdError('ambiguous', `watch: ${parsed.error.message ?? 'error'}`, parsed.error.code);
        }
        if (parsed.result !== undefined) onMessage(parsed.result);
      }
    }
    throw new EtcdError('ambiguous', `the watch stream from ${this.options.endpoints[index]} ended`);
  }

  /**
   * An undici failure as an EtcdError (classify). A TLS connection that etcd closes at once is
   * what a missing client certificate looks like when etcd asks for one: said, when none is set.
   */
  private failed(err: unknown): EtcdError {
    const failure = classify(err);
    const code = (err as { code?: string }).code;
    if (code !== 'UND_ERR_SOCKET' || this.options.tls?.cert !== undefined || !this.options.endpoints.some((e) => e.startsWith('https:'))) {
      return failure;
    }
    return new EtcdError(
      failure.failure,
      `${failure.message} (if etcd asks for client certificates, --client-cert-auth, set KV_ETCD_CERT_FILE and KV_ETCD_KEY_FILE)`,
      failure.code,
    );
  }

  /** The auth token, authenticating first if there is none (one authentication at a time). */
  private authToken(index: number): Promise<string> {
    if (this.token !== undefined) return Promise.resolve(this.token);
    this.authenticating ??= this.authenticate(index).finally(() => {
      this.authenticating = undefined;
    });
    return this.authenticating;
  }

  private async authenticate(index: number): Promise<string> {
    const pool = this.pools[index] as Pool;
    const body = JSON.stringify({ name: this.options.username, password: this.options.password ?? '' });
    let status: number;
    let text: string;
    try {
      const res = await pool.request({
        method: 'POST',
        path: '/v3/auth/authenticate',
        body,
        headers: { 'content-type': 'application/json' },
        headersTimeout: this.attemptTimeoutMs,
        bodyTimeout: this.attemptTimeoutMs,
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      throw this.failed(err);
    }
    if (status !== 200) {
      const problem = parseProblem(status, text);
      throw new EtcdError(problem.failure, `authentication as '${this.options.username}' failed: ${problem.message}`, problem.code);
    }
    const token = (JSON.parse(text) as { token?: string }).token;
    if (token === undefined) throw new EtcdError('refused', 'etcd answered the authentication without a token');
    this.token = token;
    return token;
  }
}

/** An error answer of the gateway as an EtcdError: refused, except etcd's "unavailable" (ambiguous). */
function parseProblem(status: number, text: string): EtcdError {
  let message = text.slice(0, 300);
  let code: number | undefined;
  try {
    const parsed = JSON.parse(text) as { message?: string; error?: string; code?: number };
    message = parsed.message ?? parsed.error ?? message;
    code = parsed.code;
  } catch {
    // Not JSON (a proxy's page?): keep the text.
  }
  if (message.includes(GATEWAY_CN_REFUSAL)) {
    message = `${message.trim()}: with both --client-cert-auth and auth on, etcd's JSON gateway (which kv_store uses) refuses a client certificate that has a Common Name; give kv_store a client certificate without one (KV_ETCD_CERT_FILE), and a user (KV_ETCD_USERNAME, KV_ETCD_PASSWORD)`;
  }
  if (code === GRPC.unavailable || status === 503 || status === 504) {
    // "too many requests" is refused before proposing; every other "unavailable" may have been proposed.
    return new EtcdError(/too many requests/.test(message) ? 'unreachable' : 'ambiguous', message, code);
  }
  return new EtcdError('refused', message, code);
}

/** An undici failure as an EtcdError: unreachable when nothing can have reached etcd, else ambiguous. */
function classify(err: unknown): EtcdError {
  if (err instanceof EtcdError) return err;
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code;
  if (code !== undefined && CONNECT_FAILURES.has(code)) return new EtcdError('unreachable', e.message ?? code);
  if (code !== undefined && CERTIFICATE_FAILURES.has(code)) {
    return new EtcdError(
      'unreachable',
      `etcd's TLS certificate was not accepted (${e.message ?? code}): KV_ETCD_CA_FILE must name the CA that signed it, and each endpoint's host must be one the certificate names`,
    );
  }
  if (code !== undefined && HANDSHAKE_FAILURES.has(code)) {
    return new EtcdError(
      'unreachable',
      `the TLS handshake with etcd failed (${code}): if etcd asks for client certificates (--client-cert-auth), KV_ETCD_CERT_FILE and KV_ETCD_KEY_FILE must name one signed by a CA etcd trusts; an http:// member must be listed as http://`,
    );
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return new EtcdError('ambiguous', 'no answer in time');
  return new EtcdError('ambiguous', e.message ?? String(err));
}
