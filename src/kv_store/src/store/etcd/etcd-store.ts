/*
 * The etcd engine (KV_BACKEND=etcd): a stateless kv_store node over an etcd cluster. etcd holds
 * the store (its keys, the store id, the revisions); any number of nodes serve it.
 *
 * Reads come from the node's cache of the keyspace (keyspace-cache.ts), kept current by one
 * etcd watch (cache-follower.ts), and only while that watch is live and the cache has applied
 * every write this node has acknowledged (read-your-writes); otherwise, and for a consistent
 * read, they go to etcd (a linearizable range).
 *
 * Every write is one etcd Txn (etcd-txn.ts): create, replace, delete and a whole transaction are
 * one-op or many-op plans of planTransaction, evaluated over a view of the keys they touch (the
 * cache at first, a fresh read of etcd after a conflict) and committed with compares that assert
 * the view still holds. A conflict plans again, at most MAX_ATTEMPTS times. A write is answered
 * once etcd has applied it and the watch has brought it back to the cache (so this node's next
 * read sees it, and its watchers have it first), or, if the watch lags, once etcd has applied it.
 *
 * When etcd does not answer a write (a member died, an election), the same Txn is sent again to
 * the next member: its compares make a second application impossible. If the outcome stays
 * unknown (a later try finds the compares failing), the write's id, which its records carry, is
 * looked for on the watch: found, the write was applied; not found once the cache has caught up
 * with etcd, it was not, and the node plans again. etcd unreachable, or no answer within
 * operationTimeoutMs, is 503 backend_unavailable, never a guess.
 *
 * Revisions are etcd's: every write to the cluster takes one, so a store's revisions have gaps
 * when anything else writes to etcd (another prefix, the nodes' m/sync writes). Entries' versions
 * are the contract's, kept in the stored record.
 */

import { randomBytes, randomUUID } from 'node:crypto';
import { type Clock, systemClock } from '../../clock.js';
import type { Logger } from '../../logger.js';
import type {
  ChangeListener,
  CreateOptions,
  DeleteOptions,
  Entry,
  GetOptions,
  KvStore,
  MaybePromise,
  Preconditions,
  StoreReadiness,
  ReplaceOptions,
  StoreCapabilities,
  StoreStats,
} from '../store.js';
import { NEVER } from '../store.js';
import { StoreError } from '../store-error.js';
import { planTransaction, singleWriteError, type TxnFailure, type TxnOutcome, type TxnPlan, type TxnRequest } from '../txn.js';
import { CacheFollower } from './cache-follower.js';
import {
  b64,
  EtcdError,
  type EtcdConnectionOptions,
  EtcdGateway,
  type EtcdRangeResponse,
  type EtcdTxnResponse,
  GRPC,
  int,
  unb64,
} from './etcd-gateway.js';
import {
  comparesOf,
  type EtcdTxnRequest,
  PinnedView,
  type ReadSet,
  readOps,
  readSetOf,
  snapshotOf,
  type ViewSource,
  writeOps,
} from './etcd-txn.js';
import { cachedEntryCost, KeyspaceCache, type PendingWrite } from './keyspace-cache.js';
import { LeaseBuckets } from './lease-buckets.js';
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
  /** How long one operation may try before it is 503 (default 10,000 ms). */
  readonly operationTimeoutMs?: number | undefined;
}

/** Plans per operation before a write that keeps conflicting is refused as 503. */
const MAX_ATTEMPTS = 16;
/** How long a write waits for the watch to bring it back before it is answered anyway (a hang guard). */
const CATCH_UP_MS = 5000;

const CAPABILITIES: StoreCapabilities = { durable: true, sharedRevisions: true, lazyExpiry: true };

/** Which marker a write's Txn carries: none for a put, 'delete' or 'txn' (see stored-record.ts). */
type Kind = 'put' | 'delete' | 'txn';

/** A write sent whose outcome etcd has not confirmed. */
interface Unconfirmed {
  readonly plan: TxnPlan;
  readonly pending: PendingWrite;
}

export class EtcdStore implements KvStore {
  readonly capabilities = CAPABILITIES;
  private readonly gateway: EtcdGateway;
  private readonly layout: EtcdLayout;
  private readonly cache: KeyspaceCache;
  private readonly follower: CacheFollower;
  private readonly leases: LeaseBuckets;
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  private readonly maxKeys: number;
  private readonly maxMemoryBytes: number;
  private readonly operationTimeoutMs: number;
  private readonly nodeId = randomBytes(4).toString('hex');
  private writeCounter = 0;
  /** The last write of each key this node has in flight (see inTurn). */
  private readonly turns = new Map<string, Promise<unknown>>();
  private storeId = '';
  /** The highest revision this node has acknowledged a write at. */
  private acked = 0;
  private opening: Promise<void> | undefined;
  private closed = false;
  private openProblem = 'connecting to etcd';

  constructor(options: EtcdStoreOptions) {
    this.gateway = new EtcdGateway(options.connection);
    this.layout = new EtcdLayout(options.prefix);
    this.cache = new KeyspaceCache(this.layout);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.follower = new CacheFollower(this.gateway, this.layout, this.cache, this.nodeId, this.logger);
    this.leases = new LeaseBuckets(this.gateway, options.leaseSlackMs ?? 1000);
    this.maxKeys = options.limits?.maxKeys ?? Number.POSITIVE_INFINITY;
    this.maxMemoryBytes = options.limits?.maxMemoryBytes ?? Number.POSITIVE_INFINITY;
    this.operationTimeoutMs = options.operationTimeoutMs ?? 10_000;
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
    await this.follower.close();
    this.cache.close();
    await this.opening?.catch(() => undefined);
    await this.gateway.close();
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
    if (options?.consistent !== true && this.servesFromCache()) return this.cache.live(key, this.clock.now());
    return this.readFromEtcd(key);
  }

  async create(key: string, value: string, options: CreateOptions = {}): Promise<Entry> {
    const done = await this.inTurn(key, () =>
      this.commit({ checks: [], ops: [{ op: 'create', key, value, ttlMs: options.ttlMs }] }, 'put'),
    );
    if (!done.succeeded) throw singleWriteError(done.failures[0] as TxnFailure);
    return done.results[0] as Entry;
  }

  async replace(key: string, value: string, options: ReplaceOptions = {}): Promise<Entry> {
    const request: TxnRequest = { checks: [], ops: [{ op: 'replace', key, value, ttlMs: options.ttlMs }] };
    const done = await this.inTurn(key, () => this.commit(request, 'put', options.conditions));
    if (!done.succeeded) throw singleWriteError(done.failures[0] as TxnFailure);
    return done.results[0] as Entry;
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<number> {
    const done = await this.inTurn(key, () => this.commit({ checks: [], ops: [{ op: 'delete', key }] }, 'delete', options.conditions));
    if (!done.succeeded) throw singleWriteError(done.failures[0] as TxnFailure);
    return done.revision;
  }

  async txn(request: TxnRequest): Promise<TxnOutcome> {
    return this.commit(request, 'txn');
  }

  /**
   * Runs this node's writes of one key one after another: they would only conflict with each
   * other in etcd and plan again, so a hot key's writers wait here instead, and only writes from
   * other nodes conflict.
   */
  private inTurn<T>(key: string, write: () => Promise<T>): Promise<T> {
    const before = this.turns.get(key);
    const mine = (before === undefined ? write() : before.then(write, write)) as Promise<T>;
    const settled = mine.then(
      () => undefined,
      () => undefined,
    );
    this.turns.set(key, settled);
    void settled.then(() => {
      if (this.turns.get(key) === settled) this.turns.delete(key);
    });
    return mine;
  }

  /** True when a read may come from the cache: the watch is live and has brought back every write this node acknowledged. */
  private servesFromCache(): boolean {
    return this.follower.state === 'live' && this.cache.revision >= this.acked;
  }

  private mustBeOpen(): void {
    if (this.closed) throw new StoreError('backend_unavailable', { why: 'the store is closed' });
    if (this.storeId === '') throw new StoreError('backend_unavailable', { why: `etcd not reached yet (${this.openProblem})` });
  }

  private async open(): Promise<void> {
    let delay = 100;
    while (!this.closed) {
      try {
        this.storeId = await this.ensureStoreId();
        this.follower.start();
        return;
      } catch (err) {
        this.openProblem = err instanceof Error ? err.message : String(err);
        this.logger?.warn({ err: this.openProblem, endpoints: this.gateway.endpoints }, 'cannot reach etcd yet; retrying');
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(2000, delay * 2);
      }
    }
  }

  /** The store id under <prefix>m/id: made by the first node (a create-only Txn), read by every other. */
  private async ensureStoreId(): Promise<string> {
    const key = b64(this.layout.idKey);
    const id = randomUUID();
    const answer = await this.send<EtcdTxnResponse>('/v3/kv/txn', {
      compare: [{ key, target: 'CREATE', result: 'EQUAL', create_revision: '0' }],
      success: [{ request_put: { key, value: b64(id) } }],
      failure: [{ request_range: { key } }],
    });
    if (answer.succeeded === true) return id;
    const existing = unb64(answer.responses?.[0]?.response_range?.kvs?.[0]?.value);
    if (existing === '') throw new Error(`etcd holds no store id at ${this.layout.idKey}`);
    return existing;
  }

  /** A linearizable read of one key from etcd. */
  private async readFromEtcd(key: string): Promise<Entry | undefined> {
    const answer = await this.send<EtcdRangeResponse>('/v3/kv/range', { key: b64(this.layout.dataKey(key)) });
    const kv = answer.kvs?.[0];
    if (kv === undefined) return undefined;
    const decoded = decodeRecord(key, int(kv.mod_revision), Buffer.from(kv.value ?? '', 'base64'));
    return decoded !== undefined && decoded.entry.expiresAt > this.clock.now() ? decoded.entry : undefined;
  }

  /** A consistent read of everything `readSet` touches, at one revision. */
  private async snapshot(readSet: ReadSet) {
    const answer = await this.send<EtcdTxnResponse>('/v3/kv/txn', { success: readOps(readSet, this.layout) });
    return snapshotOf(answer, readSet, this.layout);
  }

  /**
   * Plans `request` and commits it as one etcd Txn, planning again after a conflict. `kind`
   * says which marker the Txn writes (deletes and transactions), `conditions` are a single
   * write's If-Match / If-None-Match.
   */
  private async commit(request: TxnRequest, kind: Kind, conditions?: Preconditions): Promise<TxnOutcome> {
    this.mustBeOpen();
    const readSet = readSetOf(request);
    let source: ViewSource = readSet.prefixes.length === 0 && this.servesFromCache() ? this.cacheSource() : await this.snapshot(readSet);
    // Writes sent whose outcome etcd did not confirm, by write id.
    const unconfirmed = new Map<string, Unconfirmed>();
    try {
      for (let attempt = 1; ; attempt++) {
        if (attempt > MAX_ATTEMPTS) {
          throw new StoreError('backend_unavailable', {
            why: `the write conflicted with others ${MAX_ATTEMPTS} times in a row; try again`,
          });
        }
        const now = this.clock.now();
        const view = new PinnedView(source, now);
        let refusal: StoreError | undefined;
        let planned: ReturnType<typeof planTransaction> | undefined;
        try {
          planned = planTransaction(request, view, now, conditions);
        } catch (err) {
          if (!(err instanceof StoreError)) throw err;
          refusal = err;
        }
        if (refusal !== undefined || planned === undefined || 'failures' in planned || !planned.writes) {
          // A refusal, failed checks or a transaction that only reads: final on a fresh view; on the
          // cache's, confirmed by a Txn with the same compares and nothing to write.
          let revision = source.revision;
          if (!source.fresh) {
            const answer = await this.send<EtcdTxnResponse>('/v3/kv/txn', {
              compare: comparesOf(view, this.layout),
              success: [],
              failure: readOps(readSet, this.layout),
            });
            if (answer.succeeded !== true) {
              source = snapshotOf(answer, readSet, this.layout);
              continue;
            }
            revision = int(answer.header?.revision);
          }
          if (refusal !== undefined) throw refusal;
          if (planned === undefined) throw new Error('no plan');
          if ('failures' in planned) return { succeeded: false, revision, failures: planned.failures };
          return { succeeded: true, revision, results: planned.at(revision).results };
        }
        const plan = planned;
        this.checkLimits(plan, view, now);
        const leases = await this.leasesFor(plan, now);
        const write = `${this.nodeId}:${(++this.writeCounter).toString(36)}`;
        const marker = kind === 'delete' ? 'delete' : kind === 'txn' ? 'txn' : undefined;
        const txn: EtcdTxnRequest = {
          compare: comparesOf(view, this.layout),
          success: writeOps(plan.changes, leases, this.layout, write, marker),
          failure: readOps(readSet, this.layout),
        };
        const pending = this.cache.expectWrite(write);
        unconfirmed.set(write, { plan, pending });
        const outcome = { ambiguous: false };
        let answer: EtcdTxnResponse;
        try {
          answer = await this.send<EtcdTxnResponse>('/v3/kv/txn', txn, outcome);
        } catch (err) {
          if (err instanceof EtcdError && err.code === GRPC.notFound && /lease not found/.test(err.message)) {
            // A lease etcd revoked early: etcd checks leases after the compares held, so neither
            // this try nor an earlier one of this Txn was applied. New leases, and plan again.
            for (const id of leases.values()) this.leases.forget(id);
            this.cache.done(pending);
            unconfirmed.delete(write);
            continue;
          }
          throw err;
        }
        if (answer.succeeded === true) {
          const revision = int(answer.header?.revision);
          this.cache.done(pending);
          unconfirmed.delete(write);
          await this.caughtUp(revision);
          return { succeeded: true, revision, results: plan.at(revision).results };
        }
        if (!outcome.ambiguous) {
          this.cache.done(pending);
          unconfirmed.delete(write);
        }
        if (unconfirmed.size > 0) {
          // A try etcd did not answer may have been applied (now, or late): the watch says whether it was.
          const applied = await this.findApplied(unconfirmed, int(answer.header?.revision));
          if (applied !== undefined) {
            await this.caughtUp(applied.revision);
            return { succeeded: true, revision: applied.revision, results: applied.plan.at(applied.revision).results };
          }
        }
        source = snapshotOf(answer, readSet, this.layout);
        // Another node won the race: a short random pause keeps the same two from colliding again.
        if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
      }
    } finally {
      for (const { pending } of unconfirmed.values()) this.cache.done(pending);
    }
  }

  /**
   * Which of the unconfirmed writes etcd applied, once the cache has caught up with `revision`
   * (etcd's revision when a later try found the compares failing): one, or none (then they can
   * no longer be applied: their compares fail). 503 when the watch cannot catch up in time.
   */
  private async findApplied(
    unconfirmed: Map<string, Unconfirmed>,
    revision: number,
  ): Promise<{ revision: number; plan: TxnPlan } | undefined> {
    if (!(await this.cache.waitFor(revision, CATCH_UP_MS))) {
      throw new StoreError('backend_unavailable', {
        why: 'etcd did not confirm whether the write was applied, and the watch cannot tell yet; read the key to find out',
      });
    }
    for (const [write, { plan, pending }] of unconfirmed) {
      if (pending.revision !== undefined) return { revision: pending.revision, plan };
      this.cache.done(pending);
      unconfirmed.delete(write);
    }
    return undefined;
  }

  /** Answers a write only once the cache has it, so the next read here sees it (bounded: then reads go to etcd until it does). */
  private async caughtUp(revision: number): Promise<void> {
    if (revision > this.acked) this.acked = revision;
    if (this.follower.state === 'live') await this.cache.waitFor(revision, CATCH_UP_MS);
  }

  private cacheSource(): ViewSource {
    const cache = this.cache;
    return {
      fresh: false,
      revision: cache.revision,
      raw: (key) => cache.raw(key),
      keysUnder: () => {
        throw new Error('the cache does not list prefixes');
      },
    };
  }

  /** The lease of every key the plan writes with a TTL (by key). */
  private async leasesFor(plan: TxnPlan, now: number): Promise<Map<string, string>> {
    const leases = new Map<string, string>();
    for (const change of plan.changes) {
      if (change.type !== 'put' || change.entry.expiresAt === NEVER) continue;
      const expiresAt = change.entry.expiresAt;
      leases.set(change.entry.key, await this.retrying(() => this.leases.leaseFor(expiresAt, now)));
    }
    return leases;
  }

  /** KV_MAX_KEYS and KV_MAX_MEMORY_BYTES, against this node's cache (the live keys). */
  private checkLimits(plan: TxnPlan, view: PinnedView, now: number): void {
    if (this.maxKeys === Number.POSITIVE_INFINITY && this.maxMemoryBytes === Number.POSITIVE_INFINITY) return;
    let growth = 0;
    for (const change of plan.changes) {
      const key = change.type === 'put' ? change.entry.key : change.key;
      const old = view.liveBefore(key);
      if (old !== undefined) growth -= cachedEntryCost(old.key, old.value, old.expiresAt !== NEVER);
      if (change.type === 'put') growth += cachedEntryCost(key, change.entry.value, change.entry.expiresAt !== NEVER);
    }
    const live = this.cache.liveCounts(now);
    if (plan.newKeys > 0 && live.keys + plan.newKeys > this.maxKeys) {
      throw new StoreError('insufficient_storage', {
        why: `the store holds its limit of ${this.maxKeys} keys (KV_MAX_KEYS); delete keys to make room`,
      });
    }
    if (growth > 0 && live.bytes + growth > this.maxMemoryBytes) {
      throw new StoreError('insufficient_storage', {
        why: `the write needs ${growth} more bytes, but the store uses ${live.bytes} of its ${this.maxMemoryBytes} bytes (KV_MAX_MEMORY_BYTES); delete keys to make room`,
      });
    }
  }

  /**
   * One etcd call, tried on the next member while etcd does not answer, until it answers or
   * operationTimeoutMs passes (503). When every member in turn refuses the connection, 503 at
   * once: etcd is down. `outcome.ambiguous` is set when a try may have been applied. etcd's
   * refusals become the StoreError that says what to do.
   */
  private send<T>(path: string, body: unknown, outcome = { ambiguous: false }): Promise<T> {
    return this.retrying(() => this.gateway.call<T>(path, body), outcome);
  }

  /** Runs `call` as `send` runs one etcd call. */
  private async retrying<T>(call: () => Promise<T>, outcome = { ambiguous: false }): Promise<T> {
    const deadline = Date.now() + this.operationTimeoutMs;
    const members = this.gateway.endpoints.length;
    let unreachable = 0;
    for (;;) {
      try {
        return await call();
      } catch (err) {
        if (!(err instanceof EtcdError)) throw err;
        if (err.failure === 'refused') throw refusal(err);
        if (err.failure === 'ambiguous') {
          outcome.ambiguous = true;
          unreachable = 0;
        } else {
          unreachable++;
        }
        if (this.closed || unreachable >= members || Date.now() >= deadline) {
          throw new StoreError('backend_unavailable', {
            why: outcome.ambiguous
              ? `etcd did not answer whether the write was applied (${err.message}); read the key to find out`
              : `etcd at ${this.gateway.endpoints.join(', ')}: ${err.message}`,
          });
        }
        if (err.failure === 'ambiguous') await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
}

/** etcd's refusal as the StoreError a client can act on; a lease etcd no longer has stays an EtcdError (the write retries). */
function refusal(err: EtcdError): Error {
  const message = err.message;
  if (/database space exceeded/.test(message)) {
    return new StoreError('insufficient_storage', {
      why: `etcd's storage quota is full (${message}); an operator must compact and defragment etcd and disarm its NOSPACE alarm`,
    });
  }
  if (/request is too large|larger than max/.test(message)) {
    return new StoreError('value_too_large', {
      why: `the write is larger than etcd accepts in one request (${message}; etcd's --max-request-bytes, 1.5 MiB by default)`,
    });
  }
  if (/too many operations/.test(message)) {
    return new StoreError('too_many_ops', {
      why: `the transaction needs more operations than etcd accepts in one Txn (${message}; etcd's --max-txn-ops, 128 by default; a deletePrefix counts one per key it deletes)`,
    });
  }
  if (err.code === GRPC.notFound) return err;
  return new StoreError('backend_unavailable', { why: `etcd refused the request: ${message}` });
}
