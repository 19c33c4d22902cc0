/*
 * Linearizable reads of single keys made at the same moment, sent to etcd as one Txn of ranges.
 *
 * Why: a `?consistent=true` read is a call to etcd, and over its gRPC API a call costs the node
 * more than the reading costs etcd (docs/etcd-backend.md, "Consistent reads at the same moment").
 * A Txn of ranges only is a read-only Txn: etcd serves it as it serves a linearizable range, after
 * confirming with a majority that its member is current (ReadIndex), without a Raft proposal; all
 * its ranges read one revision.
 *
 * How: as write-batcher.ts does for writes. A read is queued and sent from the next turn of the
 * event loop, with every read queued by then, while no batch of reads is on its way; otherwise it
 * waits for that one to come back. A lone read goes at once as the range it would be without this
 * module. Reads wait only for reads: writes have their own queue. When a batch comes back, the
 * next one waits a little (at most KV_ETCD_BATCH_WAIT_MS) for the reads of the clients it
 * answered, as the next batch of writes does (batch-wait.ts).
 *
 * Still linearizable: every read in a batch was asked before the batch left, and etcd answers the
 * batch from a state that holds every write acknowledged before it left. Every read of a batch
 * gets the outer Txn's header (its revision); a failure is every read's.
 */

import { StoreError } from '../store-error.js';
import { BatchWait, DEFAULT_BATCH_WAIT_MS } from './batch-wait.js';
import type { EtcdCalls } from './etcd-calls.js';
import type { EtcdRangeResponse, EtcdTxnResponse } from './etcd-wire.js';

/** Reads in one Txn: half of etcd's default --max-txn-ops (128). */
const MAX_READS = 64;

interface QueuedRead {
  /** The etcd key, base64. */
  readonly key: string;
  readonly resolve: (answer: EtcdRangeResponse) => void;
  readonly reject: (err: unknown) => void;
}

export class ReadBatcher {
  private queue: QueuedRead[] = [];
  private scheduled = false;
  private inFlight = false;
  private closed = false;
  /** After a batch comes back, how long the next one waits for the clients it answered. */
  private readonly wait: BatchWait;

  constructor(
    private readonly calls: EtcdCalls,
    options: {
      /** How long, at most, the next batch waits for the clients a batch answered (batch-wait.ts; 0: not at all). */
      readonly waitMs?: number;
      /** The time (ms since the epoch). */
      readonly now?: () => number;
    } = {},
  ) {
    this.wait = new BatchWait(options.waitMs ?? DEFAULT_BATCH_WAIT_MS, options.now ?? Date.now, () => this.schedule());
  }

  /** A linearizable range of the one etcd key `key` (base64). */
  read(key: string): Promise<EtcdRangeResponse> {
    if (this.closed) return Promise.reject(new StoreError('backend_unavailable', { why: 'the node is closing' }));
    return new Promise<EtcdRangeResponse>((resolve, reject) => {
      this.queue.push({ key, resolve, reject });
      this.schedule();
    });
  }

  /** Refuses every read still queued (503) and every later one. */
  close(): void {
    this.closed = true;
    this.wait.clear();
    const queued = this.queue;
    this.queue = [];
    for (const item of queued) item.reject(new StoreError('backend_unavailable', { why: 'the node is closing' }));
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.inFlight || this.queue.length === 0 || this.wait.holds(this.queue.length, this.queue.length >= MAX_READS)) return;
      const batch = this.queue.splice(0, MAX_READS);
      this.inFlight = true;
      void this.run(batch).finally(() => {
        this.inFlight = false;
        this.schedule();
      });
    });
  }

  private async run(batch: readonly QueuedRead[]): Promise<void> {
    try {
      if (batch.length === 1) {
        const only = batch[0] as QueuedRead;
        const range = await this.calls.send<EtcdRangeResponse>('/v3/kv/range', { key: only.key });
        this.wait.cameBack(this.queue.length, 1);
        only.resolve(range);
        return;
      }
      const answer = await this.calls.send<EtcdTxnResponse>('/v3/kv/txn', {
        success: batch.map((item) => ({ request_range: { key: item.key } })),
      });
      this.wait.cameBack(this.queue.length, batch.length);
      batch.forEach((item, i) => {
        const range = answer.responses?.[i]?.response_range;
        if (range === undefined) {
          item.reject(new StoreError('backend_unavailable', { why: 'etcd answered a batch of reads without the range of each' }));
        } else {
          item.resolve({ ...range, header: answer.header });
        }
      });
    } catch (err) {
      for (const item of batch) item.reject(err);
    }
  }
}
