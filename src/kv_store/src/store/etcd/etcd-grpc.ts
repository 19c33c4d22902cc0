/*
 * How kv_store talks to etcd: etcd's gRPC API (the v3 API every etcd client speaks), on
 * @grpc/grpc-js, with the messages of etcd-proto.ts encoded by protobufjs. docs/etcd-backend.md
 * says why this and not etcd's JSON gateway, with the numbers. Every etcd call the backend makes
 * passes through this one module.
 *
 * A call is named by the path of etcd's JSON gateway for the same RPC (`/v3/kv/txn` is KV.Txn),
 * and its request and answer are the objects that gateway reads and writes: keys and values
 * base64, int64 fields decimal strings, enums by name, and fields at their default value left
 * out (`succeeded` of a failed txn, `kvs` of an empty range, an event's `type` when it is a PUT).
 * So the rest of the backend reads one shape, and the types in etcd-wire.ts say it.
 *
 * One HTTP/2 channel per member carries every call and watch to it. A call goes to one member;
 * when it fails, the next call goes to the next member. What a failure means for a write is the
 * caller's first question, so every failure is an EtcdError that says it:
 * - `unreachable`: no connection to the member (refused, no route, TLS handshake refused), or
 *   etcd refused before proposing anything ("too many requests"): nothing was applied.
 * - `ambiguous`: the request was sent but no answer came (the connection dropped, our deadline
 *   passed, etcd's "request timed out" or "leader changed"): a write may or may not be applied,
 *   now or a little later.
 * - `refused`: etcd answered with an error (too large, too many operations, no space, compacted,
 *   lease not found): nothing was applied; `code` is the gRPC code, `message` etcd's words.
 *
 * Auth: with a user name, the first call authenticates (Auth.Authenticate) and every call
 * carries the token in its `token` metadata, as etcd's own clients do; etcd's simple tokens
 * expire (`--auth-token-ttl`, 300 s by default), so a call refused with "invalid auth token"
 * authenticates again and is sent once more (it was refused, so nothing was applied); a watch
 * etcd cancels for that reason is opened once more the same way. TLS: the CA, certificate and
 * key go to grpc-js's channel credentials.
 */

import { createRequire } from 'node:module';
import type { ChannelOptions, Client, ClientDuplexStream, Metadata, ServiceError } from '@grpc/grpc-js';
import type { Root, Type } from 'protobufjs';
import { type EtcdConnectionOptions, EtcdError, type EtcdFailure, type EtcdWatchMessage, GRPC } from './etcd-wire.js';
import { ETCD_PROTO } from './etcd-proto.js';
import { callName, EtcdTelemetry } from './etcd-telemetry.js';

/**
 * grpc-js and protobufjs are loaded when the first connection is made, not when kv_store starts:
 * a kv_store that keeps its data in memory never uses them.
 */
const load = createRequire(import.meta.url);

/** One RPC: its gRPC path, and how its request is written and its answer read. */
interface Rpc {
  readonly path: string;
  readonly serialize: (value: unknown) => Buffer;
  readonly deserialize: (bytes: Buffer) => unknown;
}

/** The calls the backend makes, by the gateway path that names them: [service, method, request, response]. */
const CALLS: Readonly<Record<string, readonly [string, string, string, string]>> = {
  '/v3/kv/range': ['KV', 'Range', 'RangeRequest', 'RangeResponse'],
  '/v3/kv/put': ['KV', 'Put', 'PutRequest', 'PutResponse'],
  '/v3/kv/deleterange': ['KV', 'DeleteRange', 'DeleteRangeRequest', 'DeleteRangeResponse'],
  '/v3/kv/txn': ['KV', 'Txn', 'TxnRequest', 'TxnResponse'],
  '/v3/lease/grant': ['Lease', 'LeaseGrant', 'LeaseGrantRequest', 'LeaseGrantResponse'],
  '/v3/auth/authenticate': ['Auth', 'Authenticate', 'AuthenticateRequest', 'AuthenticateResponse'],
  '/v3/watch': ['Watch', 'Watch', 'WatchRequest', 'WatchResponse'],
};

/** The RPCs, made once per process from etcd-proto.ts. */
let rpcs: ReadonlyMap<string, Rpc> | undefined;

function rpcTable(): ReadonlyMap<string, Rpc> {
  if (rpcs !== undefined) return rpcs;
  const protobuf = load('protobufjs') as typeof import('protobufjs');
  const root: Root = protobuf.parse(ETCD_PROTO, { keepCase: true }).root;
  // The gateway's JSON: int64 as decimal strings, bytes as base64, enums by name, defaults left out.
  const asObject = { longs: String, bytes: String, enums: String, defaults: false } as const;
  const table = new Map<string, Rpc>();
  for (const [name, [service, method, request, response]] of Object.entries(CALLS)) {
    const requestType: Type = root.lookupType(`etcdserverpb.${request}`);
    const responseType: Type = root.lookupType(`etcdserverpb.${response}`);
    table.set(name, {
      path: `/etcdserverpb.${service}/${method}`,
      serialize: (value) => {
        const bytes = requestType.encode(requestType.fromObject(value as Record<string, unknown>)).finish();
        return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      },
      deserialize: (bytes) => responseType.toObject(responseType.decode(bytes), asObject),
    });
  }
  rpcs = table;
  return table;
}

function rpc(name: string): Rpc {
  const found = rpcTable().get(name);
  if (found === undefined) throw new Error(`no etcd call named ${name}`);
  return found;
}

/**
 * The channel's settings: no cap on an answer's size (a range of large values can pass 4 MiB,
 * grpc-js's default; etcd's own gateway sets none either); a member that went away is tried
 * again within a second, not after grpc-js's default backoff of up to two minutes; and a ping
 * every 30 s on a quiet connection finds a member that vanished without closing it (etcd's
 * default `--grpc-keepalive-min-time` is 5 s).
 */
const CHANNEL_OPTIONS: ChannelOptions = {
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
};

/**
 * How etcd words the cancel of a watch whose token it no longer takes (3.4 and 3.5: "rpc error:
 * code = Unauthenticated desc = etcdserver: invalid auth token").
 */
const TOKEN_CANCEL = /invalid auth token|code = Unauthenticated/;
/** What `stream` settles with for such a cancel. */
const TOKEN_REFUSED = Symbol('token refused');

export class EtcdGrpc {
  private readonly clients: Client[];
  private readonly grpc: typeof import('@grpc/grpc-js');
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
    const grpc = load('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
    this.grpc = grpc;
    rpcTable();
    this.clients = options.endpoints.map((endpoint) => {
      const url = new URL(endpoint);
      const tls = options.tls;
      const credentials =
        url.protocol === 'https:'
          ? grpc.credentials.createSsl(
              tls?.ca === undefined ? null : Buffer.from(tls.ca),
              tls?.key === undefined ? null : Buffer.from(tls.key),
              tls?.cert === undefined ? null : Buffer.from(tls.cert),
            )
          : grpc.credentials.createInsecure();
      return new grpc.Client(url.host, credentials, CHANNEL_OPTIONS);
    });
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
    if (from === this.current) this.current = (this.current + 1) % this.clients.length;
  }

  /** Sends one request to the current member and returns its answer; throws EtcdError. */
  async call<T>(path: string, body: unknown, timeoutMs = this.attemptTimeoutMs): Promise<T> {
    const index = this.current;
    try {
      return await this.send<T>(index, path, body, timeoutMs);
    } catch (err) {
      if (err instanceof EtcdError && err.failure !== 'refused') this.rotate(index);
      throw err;
    }
  }

  /** Sends one request to the member at `endpoint` (no rotation); throws EtcdError. */
  callOn<T>(endpoint: string, path: string, body: unknown, timeoutMs = this.attemptTimeoutMs): Promise<T> {
    const index = this.options.endpoints.indexOf(endpoint);
    if (index === -1) throw new Error(`${endpoint} is not one of the etcd endpoints`);
    return this.send<T>(index, path, body, timeoutMs);
  }

  /**
   * Opens a watch stream on the current member: `onMessage` gets every message in order. Resolves
   * when `signal` ends it; throws EtcdError when etcd ends it or it fails.
   */
  async watch(request: unknown, signal: AbortSignal, onMessage: (message: EtcdWatchMessage) => void): Promise<void> {
    const index = this.current;
    try {
      // A watch etcd cancels at once for an auth token it no longer takes: a new token, and once
      // more, as for a unary call (send). etcd does not refuse the stream; it answers the create
      // request with created and canceled, and its reason.
      if ((await this.stream(index, request, signal, onMessage, true)) === 'token refused') {
        this.token = undefined;
        await this.stream(index, request, signal, onMessage, false);
      }
    } catch (err) {
      if (signal.aborted) return;
      this.rotate(index);
      const failure = this.failed(err);
      // A stream refused for its token (rather than a watch canceled for it): a new token next time.
      if (this.tokenRefused(failure)) this.token = undefined;
      throw failure;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const client of this.clients) client.close();
  }

  private async send<T>(index: number, path: string, body: unknown, timeoutMs: number): Promise<T> {
    try {
      return await this.timed<T>(index, path, body, timeoutMs);
    } catch (err) {
      // An auth token etcd no longer takes (it expired, or etcd restarted): a new one, and once more.
      if (!this.tokenRefused(err)) throw err;
      this.token = undefined;
      return this.timed<T>(index, path, body, timeoutMs);
    }
  }

  /** Whether `err` is etcd refusing the auth token a call carried ("invalid auth token"). */
  private tokenRefused(err: unknown): boolean {
    return err instanceof EtcdError && err.code === GRPC.unauthenticated && this.options.username !== undefined;
  }

  /** One request, reported to the telemetry (its time, and how it failed) when something observes it. */
  private async timed<T>(index: number, path: string, body: unknown, timeoutMs: number): Promise<T> {
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

  private async request<T>(index: number, path: string, body: unknown, timeoutMs: number): Promise<T> {
    return this.unary<T>(index, path, body, await this.metadata(index), timeoutMs);
  }

  /** One unary RPC on member `index`, its failure as an EtcdError. */
  private unary<T>(index: number, path: string, body: unknown, metadata: Metadata, timeoutMs: number): Promise<T> {
    const { path: method, serialize, deserialize } = rpc(path);
    const client = this.clients[index] as Client;
    return new Promise<T>((resolve, reject) => {
      client.makeUnaryRequest(
        method,
        serialize,
        deserialize,
        body,
        metadata,
        { deadline: Date.now() + timeoutMs },
        (err: ServiceError | null, answer?: unknown) => {
          if (err === null) resolve(answer as T);
          else reject(this.failed(err, index));
        },
      );
    });
  }

  /**
   * One watch stream on member `index`, until `signal` ends it or it fails. With `tokenRetry`, a
   * first answer that cancels the watch for its auth token is not handed on: the stream ends
   * with 'token refused', for the caller to try again with a new token.
   */
  private async stream(
    index: number,
    request: unknown,
    signal: AbortSignal,
    onMessage: (m: EtcdWatchMessage) => void,
    tokenRetry: boolean,
  ): Promise<'ended' | 'token refused'> {
    const metadata = await this.metadata(index);
    if (signal.aborted) return 'ended';
    const { path, serialize, deserialize } = rpc('/v3/watch');
    const client = this.clients[index] as Client;
    const call: ClientDuplexStream<unknown, EtcdWatchMessage> = client.makeBidiStreamRequest(
      path,
      serialize,
      deserialize as (bytes: Buffer) => EtcdWatchMessage,
      metadata,
      {},
    );
    return new Promise<'ended' | 'token refused'>((resolve, reject) => {
      let settled = false;
      let answered = false;
      const settle = (err: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(firstAnswer);
        signal.removeEventListener('abort', abort);
        call.cancel();
        if (signal.aborted) resolve('ended');
        else if (err === TOKEN_REFUSED) resolve('token refused');
        else reject(err);
      };
      const abort = (): void => settle(undefined);
      // etcd answers a create request at once; a member that does not has not taken the watch.
      const firstAnswer = setTimeout(
        () => settle(new EtcdError('ambiguous', `no answer in time to the watch on ${this.options.endpoints[index]}`)),
        this.attemptTimeoutMs,
      );
      signal.addEventListener('abort', abort, { once: true });
      call.on('data', (message: EtcdWatchMessage) => {
        if (settled) return;
        clearTimeout(firstAnswer);
        const first = !answered;
        answered = true;
        if (
          first &&
          tokenRetry &&
          this.options.username !== undefined &&
          message.canceled === true &&
          TOKEN_CANCEL.test(message.cancel_reason ?? '')
        ) {
          settle(TOKEN_REFUSED);
          return;
        }
        try {
          onMessage(message);
        } catch (err) {
          settle(err);
        }
      });
      call.on('error', (err: ServiceError) => settle(this.failed(err, index)));
      call.on('end', () => settle(new EtcdError('ambiguous', `the watch stream from ${this.options.endpoints[index]} ended`)));
      call.write(request);
    });
  }

  /** A call's metadata: none without a user, else the auth token, authenticating first if there is none (one authentication at a time). */
  private async metadata(index: number): Promise<Metadata> {
    if (this.options.username === undefined) return new this.grpc.Metadata();
    if (this.token === undefined) {
      this.authenticating ??= this.authenticate(index).finally(() => {
        this.authenticating = undefined;
      });
      await this.authenticating;
    }
    const metadata = new this.grpc.Metadata();
    metadata.set('token', this.token as string);
    return metadata;
  }

  private async authenticate(index: number): Promise<string> {
    let answer: { token?: string };
    try {
      answer = await this.unary<{ token?: string }>(
        index,
        '/v3/auth/authenticate',
        { name: this.options.username, password: this.options.password ?? '' },
        new this.grpc.Metadata(),
        this.attemptTimeoutMs,
      );
    } catch (err) {
      const problem = err as EtcdError;
      if (problem.failure !== 'refused') throw problem;
      throw new EtcdError(problem.failure, `authentication as '${this.options.username}' failed: ${problem.message}`, problem.code);
    }
    if (answer.token === undefined) throw new EtcdError('refused', 'etcd answered the authentication without a token');
    this.token = answer.token;
    return answer.token;
  }

  /** A grpc-js failure as an EtcdError (see the header comment), with what to change where TLS is the cause. */
  private failed(err: unknown, index = this.current): EtcdError {
    if (err instanceof EtcdError) return err;
    const e = err as { code?: unknown; details?: string; message?: string };
    const details = e.details ?? e.message ?? String(err);
    if (typeof e.code !== 'number') return new EtcdError('ambiguous', details);
    const code = e.code;
    switch (code) {
      case GRPC.unavailable:
        if (/^(No connection established|Name resolution failed)/.test(details)) return this.unreachable(details, index);
        // "too many requests" is refused before proposing; every other "unavailable" may have been proposed.
        return new EtcdError(/too many requests/.test(details) ? 'unreachable' : 'ambiguous', details, code);
      case GRPC.deadlineExceeded:
        return new EtcdError('ambiguous', 'no answer in time', code);
      case GRPC.cancelled:
      case GRPC.unknown:
      case GRPC.internal:
        return new EtcdError('ambiguous', details, code);
      default:
        return new EtcdError('refused', details, code);
    }
  }

  /** No connection to member `index`: said with what to change, when TLS was the cause. */
  private unreachable(details: string, index: number): EtcdError {
    if (!(this.options.endpoints[index] as string).startsWith('https:')) return new EtcdError('unreachable', details, GRPC.unavailable);
    // grpc-js gives the connection's last error: OpenSSL's (`...:SSL routines:<function>:<reason>:...`) or Node's certificate check.
    const last = details.replace(/^No connection established\. Last error: (Error: )?/, '').replace(/\. Resolution note: .*$/, '');
    const openssl = /SSL routines:[^:]*:([^:]+):/.exec(last)?.[1];
    if (openssl !== undefined) {
      return new EtcdError(
        'unreachable',
        `the TLS handshake with etcd failed (${openssl}): if etcd asks for client certificates (--client-cert-auth), KV_ETCD_CERT_FILE and KV_ETCD_KEY_FILE must name one signed by a CA etcd trusts; an http:// member must be listed as http://`,
      );
    }
    if (/certificate|self[- ]signed|unable to (verify|get)|altnames/i.test(last)) {
      return new EtcdError(
        'unreachable',
        `etcd's TLS certificate was not accepted (${last}): KV_ETCD_CA_FILE must name the CA that signed it, and each endpoint's host must be one the certificate names`,
      );
    }
    return new EtcdError('unreachable', details, GRPC.unavailable);
  }
}
