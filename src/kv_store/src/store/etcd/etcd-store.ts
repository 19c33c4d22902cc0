/*
 * The etcd engine (KV_BACKEND=etcd): a stateless kv_store node over an etcd cluster. etcd holds
 * the store (its keys, the store id, the revisions); any number of nodes serve it. This file is
 * the port's face of it; the parts:
 *
 *   etcd-grpc.ts        etcd's gRPC API through grpc-js: calls, watch streams, auth, TLS
 *   etcd-wire.ts        the shapes of its requests and answers, and what a failure means
 *   etcd-calls.ts       one call as the engine makes it: retries across members, 503, refusals
 *   stored-record.ts    the layout under the prefix and the record a key is stored as
 *   keyspace-cache.ts   the node's copy of the keyspace, and the batches it announces
 *   cache-follower.ts   the one etcd watch that keeps it current (load, resume, reload, probe)
 *   change-records.ts   etcd's events as the port's changes
 *   etcd-commit.ts      the write path: every write one Txn (etcd-txn.ts builds it)
 *   write-batcher.ts    single-key writes at the same moment sent as one Txn of nested Txns
 *   read-batcher.ts     consistent reads of single keys at the same moment sent as one Txn of ranges
 *   lease-buckets.ts    TTLs on shared leases
 *
 * Reads come from the node's cache while its watch is live and it has applied every write this
 * node acknowledged (read-your-writes); otherwise, and for a consistent read, from etcd (a
 * linearizable range). Revisions are etcd's: every write to the cluster takes one, so a store's
 * revisions have gaps when anything else writes to etcd (another prefix, the nodes' m/sync
 * writes). Entries' versions are the contract's, kept in the stored record.
 */

import { randomBytes, randomUUID } from 'node:crypto';
import { type Clock, systemClock } from '../../clock.js';
import type { Logger } from '../../logger.js';
import type { HistoryLimits } from '../memory/change-history.js';
import { DEFAULT_HISTORY } from '../memory/memory-store.js';
import type {
  ChangeBatch,
  ChangeListener,
  CreateOptions,
  DeleteOptions,
  Entry,
  GetOptions,
  HistoryCompacted,
  KvStore,
  ListPage,
  ListQuery,
  MaybePromise,
  Preconditions,
  ReplaceOptions,
  StoreCapabilities,
  StoreReadiness,
  StoreStats,
} from '../store.js';
import { StoreError } from '../store-error.js';
import { singleWriteError, type TxnFailure, type TxnOutcome, type TxnRequest } from '../txn.js';
import { CacheFollower } from './cache-follower.js';
import { EtcdCalls } from './etcd-calls.js';
import { EtcdCommitter, type WriteKind } from './etcd-commit.js';
import { historyFromEtcd } from './etcd-history.js';
import { listFromEtcd } from './etcd-listing.js';
import { b64, type EtcdConnectionOptions, EtcdError, type EtcdRangeResponse, type EtcdTxnResponse, int, unb64 } from './etcd-wire.js';
import { EtcdGrpc } from './etcd-grpc.js';
import { KeyspaceCache } from './keyspace-cache.js';
import { type EtcdObserver, EtcdTelemetry } from './etcd-telemetry.js';
import { LeaseBuckets } from './lease-buckets.js';
import { ReadBatcher } from './read-batcher.js';
import { decodeRecord, EtcdLayout } from './stored-record.js';

export interface EtcdStoreOptions {
  readonly connection: EtcdConnectionOptions;
  /** Where the store lives in etcd (KV_ETCD_PREFIX): several stores can share a cluster. */
  readonly prefix: string;
  readonly clock?: Clock | undefined;
  /** Checked by this node against its cache (see StoreLimits in docs/etcd-backend.md). */
  readonly limits?: { readonly maxKeys?: number; readonly maxMemoryBytes?: number } | undefined;
  readonly logger?: Logger | undefined;
  /** How long a lease outlives its expiry bucket (default 1000 ms). */
  readonly leaseSlackMs?: number | undefined;
  /** How long, at most, the next batch of writes or of consistent reads waits for the clients the last one answered (KV_ETCD_BATCH_WAIT_MS; batch-wait.ts). */
  readonly batchWaitMs?: number | undefined;
  /** How long one operation may try before it is 503 (default 10,000 ms). */
  readonly operationTimeoutMs?: number | undefined;
  /** How much of the change history the node keeps itself (KV_WATCH_HISTORY, KV_WATCH_HISTORY_BYTES); older comes from etcd. */
  readonly history?: Partial<HistoryLimits> | undefined;
}

const CAPABILITIES: StoreCapabilities = { durable: true, previousValues: true, sharedRevisions: true, lazyExpiry: true };

export class EtcdStore implements KvStore {
  readonly capabilities = CAPABILITIES;
  private readonly etcd: EtcdGrpc;
  private readonly layout: EtcdLayout;
  private readonly cache: KeyspaceCache;
  private readonly follower: CacheFollower;
  private readonly calls: EtcdCalls;
  private readonly reads: ReadBatcher;
  private readonly writes: EtcdCommitter;
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  private readonly maxKeys: number;
  private readonly maxMemoryBytes: number;
  private readonly nodeId: string;
  private storeId = '';
  private opening: Promise<void> | undefined;
  private closed = false;
  private openProblem = 'connecting to etcd';
  private readonly telemetry = new EtcdTelemetry();

  constructor(options: EtcdStoreOptions) {
    const nodeId = randomBytes(4).toString('hex');
    this.nodeId = nodeId;
    this.etcd = new EtcdGrpc(options.connection, this.telemetry);
    this.layout = new EtcdLayout(options.prefix);
    this.cache = new KeyspaceCache(this.layout, { ...DEFAULT_HISTORY, ...options.history });
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.follower = new CacheFollower(this.etcd, this.layout, this.cache, nodeId, this.logger, this.telemetry);
    this.maxKeys = options.limits?.maxKeys ?? Number.POSITIVE_INFINITY;
    this.maxMemoryBytes = options.limits?.maxMemoryBytes ?? Number.POSITIVE_INFINITY;
    this.calls = new EtcdCalls(this.etcd, options.operationTimeoutMs ?? 10_000, () => this.closed);
    this.reads = new ReadBatcher(this.calls, options.batchWaitMs === undefined ? {} : { waitMs: options.batchWaitMs });
    this.writes = new EtcdCommitter({
      calls: this.calls,
      layout: this.layout,
      cache: this.cache,
      follower: this.follower,
      leases: new LeaseBuckets(this.etcd, options.leaseSlackMs ?? 1000),
      clock: this.clock,
      maxKeys: this.maxKeys,
      maxMemoryBytes: this.maxMemoryBytes,
      nodeId,
      telemetry: this.telemetry,
      batchWaitMs: options.batchWaitMs,
    });
  }

  /** Reports this node's requests to etcd, its batches of writes and its watch's new starts to `observer` (metrics/etcd-metrics.ts). */
  observe(observer: EtcdObserver): void {
    this.telemetry.observer = observer;
  }

  /** True while the node's watch is live: its cache serves reads. */
  get watchLive(): boolean {
    return this.follower.state === 'live';
  }

  /** The store id kept in etcd; '' until the node has first reached etcd. */
  get id(): string {
    return this.storeId;
  }

  /** The revision of the last change this node's cache has applied. */
  get revision(): number {
    return this.cache.revision;
  }

  /** Connects in the background: reads (or makes) the store id, loads the cache, follows the watch. */
  start(): void {
    this.opening ??= this.open();
  }

  /** Resolves once the node serves reads from its cache (for tests and start-up logs). */
  async whenLive(): Promise<void> {
    this.start();
    await this.opening;
    await this.follower.whenLive();
  }

  /** Whether the node can serve, for /readyz: not before it has loaded its cache, nor while its watch is down. */
  ready(): StoreReadiness {
    if (this.closed) return { ok: false, reason: 'the store is closed' };
    if (this.storeId === '') return { ok: false, reason: `etcd not reached yet: ${this.openProblem}` };
    if (this.follower.state !== 'live') return { ok: false, reason: this.follower.reason };
    return { ok: true, reason: 'serving from the cache, following etcd' };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.writes.close();
    this.reads.close();
    await this.follower.close();
    this.cache.close();
    await this.opening?.catch(() => undefined);
    await this.etcd.close();
  }

  subscribe(listener: ChangeListener): () => void {
    return this.cache.subscribe(listener);
  }

  stats(): StoreStats {
    const { keys, bytes } = this.cache.liveCounts(this.clock.now());
    return {
      keys,
      bytes,
      limitBytes: this.maxMemoryBytes,
      limitKeys: this.maxKeys,
      revision: this.cache.revision,
      expiredTotal: this.cache.expiredTotal,
    };
  }

  /** The live entry for `key`: from the cache when it serves, else (or when `consistent`) from etcd. */
  get(key: string, options?: GetOptions): MaybePromise<Entry | undefined> {
    this.mustBeOpen();
    if (options?.consistent !== true && this.writes.servesFromCache()) return this.cache.live(key, this.clock.now());
    return this.readFromEtcd(key);
  }

  /**
   * The batches after `after`: from the node's ring when it holds them (at once), else read back
   * from etcd's history (etcd-history.ts), or HistoryCompacted once etcd has compacted them.
   */
  changesSince(after: number, limit: number): MaybePromise<readonly ChangeBatch[] | HistoryCompacted> {
    this.mustBeOpen();
    if (after >= this.cache.revision) return [];
    return this.cache.since(after, limit) ?? this.historyAfter(after, limit);
  }

  /** changesSince when the ring does not hold all: etcd's history up to where the ring begins, then the ring. */
  private async historyAfter(after: number, limit: number): Promise<readonly ChangeBatch[] | HistoryCompacted> {
    const batches: ChangeBatch[] = [];
    for (let from = after; ; ) {
      const held = this.cache.since(from, limit - batches.length);
      if (held !== undefined) return [...batches, ...held];
      const until = this.cache.heldFrom;
      const part = await this.calls.retrying(() => historyFromEtcd(this.etcd, this.layout, from, until, limit - batches.length));
      if ('compacted' in part) return part;
      batches.push(...part);
      if (batches.length >= limit) return batches;
      from = until;
    }
  }

  /**
   * One page of a listing, read from etcd at the listing's revision (etcd-listing.ts). A first
   * page is at the node's own revision while its cache serves reads (so a watch from the
   * listing's revision needs nothing this node has not seen), else at etcd's current one.
   */
  list(query: ListQuery): Promise<ListPage> {
    this.mustBeOpen();
    const now = this.clock.now();
    const read = (request: Record<string, unknown>) => this.calls.send<EtcdRangeResponse>('/v3/kv/range', request);
    const at = query.from === undefined && query.consistent !== true && this.writes.servesFromCache() ? this.cache.revision : undefined;
    return listFromEtcd(read, this.layout, query, now, (range) => this.cache.expiredIn(range, now), at);
  }

  /**
   * Resolves true once the cache has reached `revision` (another node answered it a moment ago),
   * false when etcd itself has not. When nothing under the prefix would move the watch that far
   * (the revision counts writes elsewhere in etcd), a write of m/sync does; while etcd's quota is
   * full (NOSPACE: it takes no put, but deletes), deleting m/sync does, where a node wrote it before.
   */
  async catchUp(revision: number): Promise<boolean> {
    this.mustBeOpen();
    if (this.cache.revision >= revision) return true;
    const current = await this.calls.send<EtcdRangeResponse>('/v3/kv/range', { key: b64(this.layout.idKey), count_only: true });
    if (int(current.header?.revision) < revision) return false;
    if (await this.cache.waitFor(revision, 1000)) return true;
    const sync = b64(this.layout.syncKey);
    let full = false;
    try {
      await this.calls.send('/v3/kv/put', { key: sync, value: b64(this.nodeId) });
    } catch (err) {
      if (!(err instanceof StoreError && err.reason === 'insufficient_storage')) throw err;
      full = true;
      // Deletes nothing when m/sync is gone already: another catch-up may have deleted it a
      // moment ago, and its revision will do as well (waited for below).
      await this.calls.send('/v3/kv/deleterange', { key: sync });
    }
    if (await this.cache.waitFor(revision, 5000)) return true;
    if (full) {
      throw new StoreError('backend_unavailable', {
        why: `this node has not seen revision ${revision} yet, and etcd takes no write while its storage quota is full, so nothing shows the node's watch caught up; an operator must compact and defragment etcd and disarm its NOSPACE alarm`,
      });
    }
    return false;
  }

  async create(key: string, value: string, options: CreateOptions = {}): Promise<Entry> {
    const done = await this.single(key, { checks: [], ops: [{ op: 'create', key, value, ttlMs: options.ttlMs }] }, 'put');
    return done.results[0] as Entry;
  }

  async replace(key: string, value: string, options: ReplaceOptions = {}): Promise<Entry> {
    const request: TxnRequest = { checks: [], ops: [{ op: 'replace', key, value, ttlMs: options.ttlMs }] };
    const done = await this.single(key, request, 'put', options.conditions);
    return done.results[0] as Entry;
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<number> {
    const done = await this.single(key, { checks: [], ops: [{ op: 'delete', key }] }, 'delete', options.conditions);
    return done.revision;
  }

  async txn(request: TxnRequest): Promise<TxnOutcome> {
    this.mustBeOpen();
    return this.writes.commit(request, 'txn');
  }

  /** One key's write: its turn on this node, then one Txn; a failed op is the refusal it stands for (key_exists, key_not_found). */
  private async single(key: string, request: TxnRequest, kind: WriteKind, conditions?: Preconditions) {
    this.mustBeOpen();
    const done = await this.writes.inTurn(key, () => this.writes.commit(request, kind, conditions));
    if (!done.succeeded) throw singleWriteError(done.failures[0] as TxnFailure);
    return done;
  }

  private mustBeOpen(): void {
    if (this.closed) throw new StoreError('backend_unavailable', { why: 'the store is closed' });
    if (this.storeId === '') throw new StoreError('backend_unavailable', { why: `etcd not reached yet (${this.openProblem})` });
  }

  /**
   * Reads (or makes) the store id, then starts the cache's watch. Until etcd answers it tries
   * again, a member at a time, each failure said in /readyz and the log: one try per attempt,
   * since making the id twice is harmless (a create-only Txn) and a client waiting for /readyz
   * should read why now, not after a write's deadline.
   */
  private async open(): Promise<void> {
    let delay = 100;
    while (!this.closed) {
      const endpoint = this.etcd.endpoint;
      try {
        this.storeId = await this.ensureStoreId();
        this.follower.start();
        return;
      } catch (err) {
        this.openProblem = this.openFailure(err, endpoint);
        this.logger?.warn({ err: this.openProblem, endpoints: this.etcd.endpoints }, 'cannot reach etcd yet; retrying');
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(2000, delay * 2);
      }
    }
  }

  /**
   * Why opening failed, for /readyz and the log: etcd's refusal (with the permission the user
   * lacks, when that is it: read and write on the store's prefix), or what stopped the call.
   */
  private openFailure(err: unknown, endpoint: string): string {
    if (!(err instanceof EtcdError)) return err instanceof Error ? err.message : String(err);
    if (err.failure !== 'refused') return `etcd at ${endpoint}: ${err.message}`;
    if (!/permission denied/.test(err.message)) return `etcd refused the request: ${err.message}`;
    const prefix = this.layout.prefix;
    return `etcd refused the request: ${err.message} (the etcd user, KV_ETCD_USERNAME or else the Common Name of KV_ETCD_CERT_FILE, needs a role with readwrite on the prefix '${prefix}': etcdctl role grant-permission <role> readwrite '${prefix}' --prefix=true)`;
  }

  /**
   * The store id under <prefix>m/id: made by the first node (a create-only Txn), read by every
   * other. Read first: while etcd's storage quota is full it refuses a Txn with a put in it
   * before looking at its compares.
   */
  private async ensureStoreId(): Promise<string> {
    const key = b64(this.layout.idKey);
    const held = unb64((await this.etcd.call<EtcdRangeResponse>('/v3/kv/range', { key })).kvs?.[0]?.value);
    if (held !== '') return held;
    const id = randomUUID();
    const answer = await this.etcd.call<EtcdTxnResponse>('/v3/kv/txn', {
      compare: [{ key, target: 'CREATE', result: 'EQUAL', create_revision: '0' }],
      success: [{ request_put: { key, value: b64(id) } }],
      failure: [{ request_range: { key } }],
    });
    if (answer.succeeded === true) return id;
    const existing = unb64(answer.responses?.[0]?.response_range?.kvs?.[0]?.value);
    if (existing === '') throw new Error(`etcd holds no store id at ${this.layout.idKey}`);
    return existing;
  }

  /** A linearizable read of one key from etcd (with the others made at the same moment: read-batcher.ts). */
  private async readFromEtcd(key: string): Promise<Entry | undefined> {
    const answer = await this.reads.read(b64(this.layout.dataKey(key)));
    const kv = answer.kvs?.[0];
    if (kv === undefined) return undefined;
    const decoded = decodeRecord(key, int(kv.mod_revision), Buffer.from(kv.value ?? '', 'base64'));
    return decoded !== undefined && decoded.entry.expiresAt > this.clock.now() ? decoded.entry : undefined;
  }
}
