/*
 * The etcd engine's write path: every write, and every transaction, is ONE etcd Txn, never a
 * read and then an unconditional write (etcd-txn.ts says how a plan becomes a Txn).
 *
 * A request is planned by planTransaction (store/txn.ts) over a view of the keys it touches: the
 * node's cache at first (when it serves reads and the request has no deletePrefix), a consistent
 * read of etcd otherwise, and after a conflict the fresh view the failed Txn read back. A refusal
 * planned on the cache is confirmed by a Txn with the same compares and nothing to write. A
 * conflict plans again, at most MAX_ATTEMPTS times, after a short random pause; a node's own
 * writes of one key take turns (inTurn), so only other nodes' writes conflict.
 *
 * A write is answered once etcd has applied it and the watch has brought it back to the cache
 * (so this node's next read sees it, and its watchers have it first), or after CATCH_UP_MS if
 * the watch lags; reads then go to etcd until the cache has it (`acked`).
 *
 * When etcd does not answer a write (a member died, an election), the same Txn is sent again to
 * the next member (etcd-calls.ts): its compares make a second application impossible. If a later
 * try finds the compares failing, the earlier one may have been applied, now or late: the node
 * waits until its cache has caught up with that try's revision and looks for the write's id,
 * which its records and marker carry. Seen, it was applied and the client gets its success; not
 * seen, it was not (and no longer can be), and the node plans again. If the watch cannot tell in
 * time, or the node loaded the keyspace while the write was on its way (a load holds each key's
 * newest record only, so a try applied and then overwritten leaves no trace), 503: never a guess.
 */

import type { Clock } from '../../clock.js';
import type { Preconditions } from '../store.js';
import { NEVER } from '../store.js';
import { StoreError } from '../store-error.js';
import { planTransaction, type TxnOutcome, type TxnPlan, type TxnRequest } from '../txn.js';
import type { CacheFollower } from './cache-follower.js';
import type { CallOutcome, EtcdCalls } from './etcd-calls.js';
import { EtcdError, type EtcdTxnResponse, GRPC, int } from './etcd-wire.js';
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
import { cachedEntryCost, type KeyspaceCache, type PendingWrite } from './keyspace-cache.js';
import type { LeaseBuckets } from './lease-buckets.js';
import type { EtcdTelemetry } from './etcd-telemetry.js';
import type { EtcdLayout } from './stored-record.js';
import { WriteBatcher } from './write-batcher.js';

/** Plans per operation before a write that keeps conflicting is refused as 503. */
const MAX_ATTEMPTS = 16;
/** How long a write waits for the watch to bring it back before it is answered anyway (a hang guard). */
const CATCH_UP_MS = 5000;

/** A plan with no key to write with a TTL needs no lease, nor a turn of the event loop to find none. */
const NO_LEASES: ReadonlyMap<string, string> = new Map();
const expires = (change: TxnPlan['changes'][number]): boolean => change.type === 'put' && change.entry.expiresAt !== NEVER;

/** Which marker a write's Txn carries: none for a put, 'delete' or 'txn' (see stored-record.ts). */
export type WriteKind = 'put' | 'delete' | 'txn';

/** A write sent whose outcome etcd has not confirmed. */
interface Unconfirmed {
  readonly plan: TxnPlan;
  readonly pending: PendingWrite;
}

/** What the write path works with. */
export interface CommitterParts {
  readonly calls: EtcdCalls;
  readonly layout: EtcdLayout;
  readonly cache: KeyspaceCache;
  readonly follower: CacheFollower;
  readonly leases: LeaseBuckets;
  readonly clock: Clock;
  /** KV_MAX_KEYS and KV_MAX_MEMORY_BYTES, checked against this node's cache. */
  readonly maxKeys: number;
  readonly maxMemoryBytes: number;
  /** This node's id, the first half of every write id. */
  readonly nodeId: string;
  /** Where the write batcher reports each Txn it sends. */
  readonly telemetry?: EtcdTelemetry;
  /** How long, at most, the next batch waits for the clients the last one answered (write-batcher.ts). */
  readonly batchWaitMs?: number | undefined;
}

export class EtcdCommitter {
  private writeCounter = 0;
  /** The highest revision this node has acknowledged a write at. */
  private acked = 0;
  /** The last write of each key this node has in flight (see inTurn). */
  private readonly turns = new Map<string, Promise<unknown>>();
  private readonly batcher: WriteBatcher;

  constructor(private readonly parts: CommitterParts) {
    this.batcher = new WriteBatcher(
      parts.calls,
      { key: parts.layout.batchKey, value: parts.nodeId },
      {
        ...(parts.telemetry === undefined ? {} : { telemetry: parts.telemetry }),
        ...(parts.batchWaitMs === undefined ? {} : { waitMs: parts.batchWaitMs }),
      },
    );
  }

  /** Refuses the writes still queued for a batch (not sent), and every later one. */
  close(): void {
    this.batcher.close();
  }

  /** True when a read may come from the cache: the watch is live and has brought back every write this node acknowledged. */
  servesFromCache(): boolean {
    return this.parts.follower.state === 'live' && this.parts.cache.revision >= this.acked;
  }

  /**
   * Runs this node's writes of one key one after another: they would only conflict with each
   * other in etcd and plan again, so a hot key's writers wait here instead, and only writes from
   * other nodes conflict.
   */
  inTurn<T>(key: string, write: () => Promise<T>): Promise<T> {
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

  /**
   * Plans `request` and commits it as one etcd Txn, planning again after a conflict. `kind`
   * says which marker the Txn writes (deletes and transactions), `conditions` are a single
   * write's If-Match / If-None-Match.
   */
  async commit(request: TxnRequest, kind: WriteKind, conditions?: Preconditions): Promise<TxnOutcome> {
    const { calls, layout, cache } = this.parts;
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
        const now = this.parts.clock.now();
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
            const answer = await calls.send<EtcdTxnResponse>('/v3/kv/txn', {
              compare: comparesOf(view, layout),
              success: [],
              failure: readOps(readSet, layout),
            });
            if (answer.succeeded !== true) {
              source = snapshotOf(answer, readSet, layout);
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
        const leases = plan.changes.some(expires) ? await this.leasesFor(plan, now) : NO_LEASES;
        const write = `${this.parts.nodeId}:${(++this.writeCounter).toString(36)}`;
        const marker = kind === 'delete' ? 'delete' : kind === 'txn' ? 'txn' : undefined;
        const txn: EtcdTxnRequest = {
          compare: comparesOf(view, layout),
          success: writeOps(plan.changes, leases, layout, write, marker),
          failure: readOps(readSet, layout),
        };
        const pending = cache.expectWrite(write);
        unconfirmed.set(write, { plan, pending });
        const outcome: CallOutcome = { ambiguous: false };
        let answer: EtcdTxnResponse;
        try {
          // A write without a marker may share a Txn with others (write-batcher.ts says how).
          answer = await (marker === undefined ? this.batcher.send(txn, outcome) : calls.send<EtcdTxnResponse>('/v3/kv/txn', txn, outcome));
        } catch (err) {
          if (err instanceof EtcdError && err.code === GRPC.notFound && /lease not found/.test(err.message)) {
            // A lease etcd revoked early: etcd checks leases after the compares held, so neither
            // this try nor an earlier one of this Txn was applied. New leases, and plan again.
            for (const id of leases.values()) this.parts.leases.forget(id);
            cache.done(pending);
            unconfirmed.delete(write);
            continue;
          }
          if (err instanceof StoreError && outcome.refused === true) {
            if (!outcome.ambiguous) {
              cache.done(pending);
              unconfirmed.delete(write);
            }
            // Refused after a try that went unanswered (etcd's quota filled meanwhile, say): that
            // try may have been applied, and the refusal would say it was not.
            if (unconfirmed.size > 0) {
              throw new StoreError('backend_unavailable', {
                why: `etcd refused a retry of the write (${err.message}) after an earlier try went unanswered: it may have been applied; read the key to find out`,
              });
            }
          }
          throw err;
        }
        if (answer.succeeded === true) {
          const revision = int(answer.header?.revision);
          cache.done(pending);
          unconfirmed.delete(write);
          await this.caughtUp(revision);
          return { succeeded: true, revision, results: plan.at(revision).results };
        }
        if (!outcome.ambiguous) {
          cache.done(pending);
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
        source = snapshotOf(answer, readSet, layout);
        // Another node won the race: a short random pause keeps the same two from colliding again.
        if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
      }
    } finally {
      for (const { pending } of unconfirmed.values()) cache.done(pending);
    }
  }

  /**
   * Which of the unconfirmed writes etcd applied, once the cache has caught up with `revision`
   * (etcd's revision when a later try found the compares failing): one, or none (then they can
   * no longer be applied: their compares fail). 503 when the watch cannot catch up in time, or
   * when a load of the keyspace may have hidden one of them (keyspace-cache.ts, `lost`).
   */
  private async findApplied(
    unconfirmed: Map<string, Unconfirmed>,
    revision: number,
  ): Promise<{ revision: number; plan: TxnPlan } | undefined> {
    const { cache } = this.parts;
    if (!(await cache.waitFor(revision, CATCH_UP_MS))) {
      throw new StoreError('backend_unavailable', {
        why: 'etcd did not confirm whether the write was applied, and the watch cannot tell yet; read the key to find out',
      });
    }
    let lost = false;
    for (const { plan, pending } of unconfirmed.values()) {
      if (pending.revision !== undefined) return { revision: pending.revision, plan };
      lost ||= pending.lost;
    }
    if (lost) {
      throw new StoreError('backend_unavailable', {
        why: 'etcd did not answer a try of the write, and the node loaded the keyspace from etcd while it was on its way, so it cannot tell whether that try was applied: it may have been, and then overwritten by another write; read the key for its current value',
      });
    }
    for (const [write, { pending }] of unconfirmed) {
      cache.done(pending);
      unconfirmed.delete(write);
    }
    return undefined;
  }

  /** Answers a write only once the cache has it, so the next read here sees it (bounded: then reads go to etcd until it does). */
  private async caughtUp(revision: number): Promise<void> {
    if (revision > this.acked) this.acked = revision;
    if (this.parts.follower.state === 'live') await this.parts.cache.waitFor(revision, CATCH_UP_MS);
  }

  private cacheSource(): ViewSource {
    const cache = this.parts.cache;
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
      leases.set(change.entry.key, await this.parts.calls.retrying(() => this.parts.leases.leaseFor(expiresAt, now)));
    }
    return leases;
  }

  /** KV_MAX_KEYS and KV_MAX_MEMORY_BYTES, against this node's cache (the live keys). */
  private checkLimits(plan: TxnPlan, view: PinnedView, now: number): void {
    const { maxKeys, maxMemoryBytes, cache } = this.parts;
    if (maxKeys === Number.POSITIVE_INFINITY && maxMemoryBytes === Number.POSITIVE_INFINITY) return;
    let growth = 0;
    for (const change of plan.changes) {
      const key = change.type === 'put' ? change.entry.key : change.key;
      const old = view.liveBefore(key);
      if (old !== undefined) growth -= cachedEntryCost(old.key, old.value, old.expiresAt !== NEVER);
      if (change.type === 'put') growth += cachedEntryCost(key, change.entry.value, change.entry.expiresAt !== NEVER);
    }
    const live = cache.liveCounts(now);
    if (plan.newKeys > 0 && live.keys + plan.newKeys > maxKeys) {
      throw new StoreError('insufficient_storage', {
        why: `the store holds its limit of ${maxKeys} keys (KV_MAX_KEYS); delete keys to make room`,
      });
    }
    if (growth > 0 && live.bytes + growth > maxMemoryBytes) {
      throw new StoreError('insufficient_storage', {
        why: `the write needs ${growth} more bytes, but the store uses ${live.bytes} of its ${maxMemoryBytes} bytes (KV_MAX_MEMORY_BYTES); delete keys to make room`,
      });
    }
  }

  /** A consistent read of everything `readSet` touches, at one revision. */
  private async snapshot(readSet: ReadSet) {
    const answer = await this.parts.calls.send<EtcdTxnResponse>('/v3/kv/txn', { success: readOps(readSet, this.parts.layout) });
    return snapshotOf(answer, readSet, this.parts.layout);
  }
}
