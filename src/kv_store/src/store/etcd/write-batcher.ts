/*
 * Group commit for the etcd engine's single-key writes: the Txns of several clients' writes sent
 * as ONE etcd Txn, each still its own nested Txn with its own compares, success and failure.
 *
 * Why: what etcd spends on a Txn is mostly the Txn, not its keys: a Raft entry, a WAL fsync on
 * every member, an apply and a watch message to every node. Measured straight on the gateway
 * (bench/etcd-txn-cost.mjs, 50 in flight): a one-compare Txn cost the three members 822 µs of
 * CPU, and the same Txn nested sixteen to a batch 232 µs a write. docs/etcd-backend.md has the
 * numbers.
 *
 * How: a write is queued and sent from the next turn of the event loop, with every write queued
 * by then, while fewer than MAX_IN_FLIGHT batches (one) are on their way; otherwise it waits for
 * one to come back. So a lone write goes at once and alone (exactly the Txn it would be without
 * this module), and under load the writes that arrive while etcd commits a batch make up the next
 * one. A batch is an outer Txn with no compares whose success branch is the writes' Txns
 * (etcd 3.3+ nests them): etcd applies each inner Txn's success or failure branch by its own
 * compares, so one write's failed If-Match is that write's alone, and the whole batch is one
 * revision (its `m/batch` put, below, makes one even when no inner Txn wrote anything).
 *
 * What it keeps:
 * - etcd refuses a Txn that writes one key twice, so a batch never holds two writes of one key
 *   (a node's writes of one key already take turns, etcd-commit.ts), and a write waits while a
 *   batch on its way touches its key; nor a write that carries the m/op marker (deletes and
 *   transactions go alone, so a revision holding a marker holds only that write's changes).
 * - etcd charges a Txn to its storage quota by its top-level puts only, so every batch also
 *   rewrites `m/batch` (stored-record.ts): a batch is refused once etcd's quota is full (its
 *   NOSPACE alarm), as a lone write is. Since etcd charges the batch only that put, a batch
 *   admitted just under the quota can pass it by up to MAX_BYTES, where a lone write cannot.
 * - Resending a batch etcd did not answer is safe as resending one write is: every inner Txn
 *   compares what its write was planned on.
 * - When etcd refuses a batch (its request size or operations per Txn set lower than this
 *   module's caps, a lease it no longer has, its quota), each write is sent again alone, for its
 *   own answer; if an earlier try of the batch went unanswered, each write knows it may have
 *   been applied. A refusal for operations halves the cap on writes, and one for size the cap
 *   on bytes when each write then fits alone. A lowered cap doubles every CAPS_RETRY_MS, back
 *   to where it began (etcd's limits may have been raised since; if not, a batch the doubled
 *   cap lets through is refused and sent write by write, and the cap is halved again: one such
 *   batch a minute).
 * - A write's deadline (the operation timeout) runs from when it is queued: one still queued
 *   when it passes is refused 503 without being sent, and a batch tries until the earliest
 *   deadline among its writes.
 * - When the store closes, writes still queued, and those of a refused batch, are refused 503
 *   without being sent (again).
 *
 * Waiting for the clients just answered (`waitMs`, KV_ETCD_BATCH_WAIT_MS): when a batch comes
 * back, the next one waits a little for the writes of the clients it answered, so that they make
 * up one batch with the others rather than two that take turns (batch-wait.ts says how and why).
 *
 * What it changes: writes made at the same moment through one node can share a revision, as
 * the keys of one transaction do. Revisions still go up, never come back, and every write's
 * answer, mod revision and change carry the revision it was committed at.
 */

import { StoreError } from '../store-error.js';
import type { CallOutcome, EtcdCalls } from './etcd-calls.js';
import type { EtcdTxnResponse } from './etcd-wire.js';
import { EtcdTelemetry } from './etcd-telemetry.js';
import { BatchWait, DEFAULT_BATCH_WAIT_MS } from './batch-wait.js';
import type { EtcdTxnRequest } from './etcd-txn.js';

/**
 * Batches on their way to etcd at once; the rest wait, and make up the next batch. One: over etcd's
 * gRPC API a node's and etcd's CPU a write fall as batches grow, and one batch at a time served
 * 11-20% more writes through two nodes than two at a time did, with a lower p99
 * (docs/etcd-backend.md, "One batch at a time"). A write that meets another at low load waits for
 * that one's answer (a round trip to etcd, a few milliseconds here) before it leaves.
 */
const MAX_IN_FLIGHT = 1;
/** Writes in one batch: half of etcd's default --max-txn-ops (128). */
const MAX_WRITES = 64;
/**
 * A batch's keys and values, base64, in bytes (about 96 KB of raw bytes): a twelfth of etcd's
 * default --max-request-bytes (1.5 MiB), and how far past etcd's storage quota a batch can take
 * it (see the header). Sixty-four writes of 100-byte values take about 16 KiB.
 */
const MAX_BYTES = 128 * 1024;
/** How long a cap lowered by etcd's refusals holds before it doubles (up to where it began). */
const CAPS_RETRY_MS = 60_000;

interface Queued {
  readonly txn: EtcdTxnRequest;
  readonly outcome: CallOutcome;
  /** The etcd keys (base64) the Txn compares, reads or writes. */
  readonly keys: readonly string[];
  /** Its keys' and values' base64 length. */
  readonly bytes: number;
  /** When the write's operation timeout passes (ms since the epoch). */
  readonly deadline: number;
  readonly resolve: (answer: EtcdTxnResponse) => void;
  readonly reject: (err: unknown) => void;
}

/** A nested Txn's answer, inside the outer one's. */
interface NestedResponse {
  readonly responses?: readonly { readonly response_txn?: EtcdTxnResponse }[];
}

export class WriteBatcher {
  private queue: Queued[] = [];
  private inFlight = 0;
  private scheduled = false;
  private closed = false;
  /** After a batch comes back, how long the next one waits for the clients it answered. */
  private readonly wait: BatchWait;
  private maxWrites = MAX_WRITES;
  private maxBytes = MAX_BYTES;
  /** When a refusal last lowered a cap (ms since the epoch); 0 while both are at their start. */
  private loweredAt = 0;
  /** The keys the batches on their way touch. */
  private readonly busy = new Set<string>();
  /** The top-level put of every batch (base64 key and value): see the header. */
  private readonly marker: { readonly key: string; readonly value: string };
  private readonly now: () => number;
  private readonly telemetry: EtcdTelemetry;

  constructor(
    private readonly calls: EtcdCalls,
    /** `m/batch` (an etcd key) and what a batch writes there (the node's id). */
    marker: { readonly key: string; readonly value: string },
    options: {
      /** The time (ms since the epoch), for deadlines and the caps' hold. */
      readonly now?: () => number;
      /** Where each Txn sent is reported, with how many writes it holds. */
      readonly telemetry?: EtcdTelemetry;
      /** How long, at most, the next batch waits for the clients a batch answered (see the header; 0: not at all). */
      readonly waitMs?: number;
    } = {},
  ) {
    this.now = options.now ?? Date.now;
    this.wait = new BatchWait(options.waitMs ?? DEFAULT_BATCH_WAIT_MS, this.now, () => this.schedule());
    this.telemetry = options.telemetry ?? new EtcdTelemetry();
    this.marker = { key: Buffer.from(marker.key).toString('base64'), value: Buffer.from(marker.value).toString('base64') };
  }

  /**
   * Sends `txn` (the Txn of one write that carries no m/op marker and touches one key) in the
   * next batch; answers as `calls.send` would, with `outcome` set as it sets it.
   */
  send(txn: EtcdTxnRequest, outcome: CallOutcome): Promise<EtcdTxnResponse> {
    if (this.closed) return Promise.reject(notSent('the node is closing'));
    return new Promise((resolve, reject) => {
      const keys = new Set<string>();
      let bytes = 0;
      for (const compare of txn.compare) keys.add(compare.key);
      for (const op of [...txn.success, ...txn.failure]) {
        if ('request_put' in op) {
          keys.add(op.request_put.key);
          bytes += op.request_put.key.length + op.request_put.value.length;
        } else if ('request_delete_range' in op) {
          keys.add(op.request_delete_range.key);
          bytes += op.request_delete_range.key.length;
        } else if ('request_range' in op) {
          keys.add(op.request_range.key);
        }
      }
      const deadline = this.now() + this.calls.timeoutMs;
      this.queue.push({ txn, outcome, keys: [...keys], bytes, deadline, resolve, reject });
      this.schedule();
    });
  }

  /** Refuses every write still queued (503, not sent) and every later one. */
  close(): void {
    this.closed = true;
    this.wait.clear();
    const queued = this.queue;
    this.queue = [];
    for (const item of queued) item.reject(notSent('the node is closing'));
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0 || this.inFlight >= MAX_IN_FLIGHT) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.waiting()) return;
      while (this.queue.length > 0 && this.inFlight < MAX_IN_FLIGHT) {
        const batch = this.take();
        // Everything queued waits for a key a batch on its way touches: that batch's return goes on.
        if (batch.length === 0) return;
        const keys = batch.flatMap((item) => item.keys);
        for (const key of keys) this.busy.add(key);
        this.inFlight++;
        void this.run(batch).finally(() => {
          for (const key of keys) this.busy.delete(key);
          this.inFlight--;
          this.schedule();
        });
      }
    });
  }

  /**
   * True while the next batch waits for the writes of the clients the last one answered
   * (batch-wait.ts), until a batch's worth is queued.
   */
  private waiting(): boolean {
    const full = this.queue.length >= this.maxWrites || this.queue.reduce((sum, item) => sum + item.bytes, 0) >= this.maxBytes;
    return this.wait.holds(this.queue.length, full);
  }

  /**
   * The next batch from the queue, in order, within the caps, and with no key twice or touched
   * by a batch still on its way; the rest stay queued, and a write waits while an earlier one of
   * its key does. A write whose deadline has passed is refused here.
   */
  private take(): Queued[] {
    const batch: Queued[] = [];
    const rest: Queued[] = [];
    const taken = new Set<string>();
    const waiting = new Set<string>();
    const now = this.now();
    if (this.loweredAt !== 0 && now - this.loweredAt >= CAPS_RETRY_MS) {
      this.maxWrites = Math.min(MAX_WRITES, 2 * this.maxWrites);
      this.maxBytes = Math.min(MAX_BYTES, 2 * this.maxBytes);
      this.loweredAt = this.maxWrites < MAX_WRITES || this.maxBytes < MAX_BYTES ? now : 0;
    }
    let bytes = 0;
    for (const item of this.queue) {
      if (item.deadline <= now) {
        item.reject(notSent(`etcd took no write of this node for ${this.calls.timeoutMs} ms`));
        continue;
      }
      const free = item.keys.every((key) => !this.busy.has(key) && !taken.has(key) && !waiting.has(key));
      const room = batch.length < this.maxWrites && (batch.length === 0 || bytes + item.bytes <= this.maxBytes);
      if (free && room) {
        batch.push(item);
        bytes += item.bytes;
        for (const key of item.keys) taken.add(key);
      } else {
        rest.push(item);
        for (const key of item.keys) waiting.add(key);
      }
    }
    this.queue = rest;
    return batch;
  }

  /**
   * Sends one write alone: a batch of one, or a write of a refused batch again (not once the
   * node is closing); answers false when etcd refuses it as too large on its own.
   */
  private async alone(item: Queued): Promise<boolean> {
    if (this.closed) {
      item.reject(item.outcome.ambiguous ? mayHaveBeenApplied('the node is closing') : notSent('the node is closing'));
      return true;
    }
    this.telemetry.batch(1);
    try {
      const answer = await this.calls.send<EtcdTxnResponse>('/v3/kv/txn', item.txn, item.outcome, item.deadline);
      this.wait.cameBack(this.queue.length, 1);
      item.resolve(answer);
      return true;
    } catch (err) {
      item.reject(err);
      return !(err instanceof StoreError && err.reason === 'value_too_large');
    }
  }

  private async run(batch: readonly Queued[]): Promise<void> {
    const [first] = batch;
    if (batch.length === 1 && first !== undefined) {
      await this.alone(first);
      return;
    }
    this.telemetry.batch(batch.length);
    const outcome: CallOutcome = { ambiguous: false };
    const deadline = Math.min(...batch.map((item) => item.deadline));
    const success = [...batch.map((item) => ({ request_txn: item.txn })), { request_put: this.marker }];
    let answer: EtcdTxnResponse & NestedResponse;
    try {
      answer = await this.calls.send('/v3/kv/txn', { success }, outcome, deadline);
    } catch (err) {
      for (const item of batch) if (outcome.ambiguous) item.outcome.ambiguous = true;
      if (outcome.refused !== true) {
        for (const item of batch) item.reject(err);
        return;
      }
      // The last try was refused, so not applied (an earlier one may have been: each write knows).
      // Each write alone, for its own answer.
      if (err instanceof StoreError && err.reason === 'too_many_ops') {
        this.maxWrites = Math.max(1, Math.min(this.maxWrites, Math.floor(batch.length / 2)));
        this.loweredAt = this.now();
      }
      const fitAlone = await Promise.all(batch.map((item) => this.alone(item)));
      // Too large together and each small enough alone: etcd's --max-request-bytes is under the cap.
      if (err instanceof StoreError && err.reason === 'value_too_large' && fitAlone.every(Boolean)) {
        this.maxBytes = Math.max(1, Math.min(this.maxBytes, Math.floor(batch.reduce((sum, item) => sum + item.bytes, 0) / 2)));
        this.loweredAt = this.now();
      }
      return;
    }
    this.wait.cameBack(this.queue.length, batch.length);
    const responses = answer.responses ?? [];
    for (const [i, item] of batch.entries()) {
      if (outcome.ambiguous) item.outcome.ambiguous = true;
      const nested = responses[i]?.response_txn;
      if (nested === undefined) {
        item.outcome.ambiguous = true;
        item.reject(
          new StoreError('backend_unavailable', {
            why: `etcd's answer to a batch of ${batch.length} writes has none for this one; read the key to find out whether it was applied`,
          }),
        );
        continue;
      }
      item.resolve({ ...nested, header: answer.header });
    }
  }
}

/** A write that may have been applied, which the node can no longer find out about. */
function mayHaveBeenApplied(why: string): StoreError {
  return new StoreError('backend_unavailable', {
    why: `${why}, and an earlier try of the write went unanswered: it may have been applied; read the key to find out`,
  });
}

/** A write refused before it was sent to etcd. */
function notSent(why: string): StoreError {
  return new StoreError('backend_unavailable', { why: `${why}; the write was not sent, so it was not applied` });
}
