import type { ChangeBatch, HistoryCompacted } from '../store.js';

/*
 * The bounded history of committed batches, fed from the commit point, from which watchers
 * catch up and resume (`changesSince`). It holds the newest batches up to a number of revisions
 * (KV_WATCH_HISTORY) and an estimate of their bytes on the heap (KV_WATCH_HISTORY_BYTES),
 * whichever bound is reached first; older batches are dropped, and `floor` remembers the
 * revision of the newest one dropped: every batch after `floor` is held.
 *
 * The batches are a queue in an array with a moving head (dropped ones are sliced away in bulk),
 * so appending and dropping are O(1) amortized, and finding where a watcher resumes is a binary
 * search.
 */

/** How much history to keep. */
export interface HistoryLimits {
  /** Most revisions held; 0 keeps none (a watch can then only start at the current revision). */
  readonly maxRevisions: number;
  /** Most bytes held, by estimate. */
  readonly maxBytes: number;
}

/** What one change costs on the heap, roughly: the object and its strings (two bytes a unit at worst). */
const CHANGE_OVERHEAD_BYTES = 160;

/** An estimate of the heap a batch holds. */
export function batchBytes(batch: ChangeBatch): number {
  let bytes = 64;
  for (const change of batch.changes) {
    bytes += CHANGE_OVERHEAD_BYTES + 2 * change.key.length;
    if (change.type === 'put') bytes += 2 * change.value.length;
    if (change.prev != null) bytes += 48 + 2 * change.prev.value.length;
  }
  return bytes;
}

export class ChangeHistory {
  private batches: ChangeBatch[] = [];
  private sizes: number[] = [];
  private head = 0;
  private heldBytes = 0;
  /** Every batch with a greater revision is held. */
  private floorRevision = 0;

  constructor(private readonly limits: HistoryLimits) {}

  /** Batches held. */
  get size(): number {
    return this.batches.length - this.head;
  }

  /** The estimated bytes held. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Every batch after this revision is held. */
  get floor(): number {
    return this.floorRevision;
  }

  /** Holds nothing, and nothing at or before `revision` (the store was loaded at it): resuming from before it is compacted. */
  startAfter(revision: number): void {
    this.batches = [];
    this.sizes = [];
    this.head = 0;
    this.heldBytes = 0;
    this.floorRevision = revision;
  }

  /** Keeps `batch` (the newest), dropping the oldest past the limits. */
  append(batch: ChangeBatch): void {
    const size = batchBytes(batch);
    this.batches.push(batch);
    this.sizes.push(size);
    this.heldBytes += size;
    while (this.size > 0 && (this.size > this.limits.maxRevisions || this.heldBytes > this.limits.maxBytes)) this.dropOldest();
    if (this.head > 1024 && this.head > this.batches.length / 2) {
      this.batches = this.batches.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
  }

  /** The batches after `after`, oldest first, at most `limit`; HistoryCompacted if some of them are no longer held. */
  since(after: number, limit: number): readonly ChangeBatch[] | HistoryCompacted {
    if (after < this.floorRevision) return { compacted: true, oldestRevision: this.floorRevision + 1 };
    const batches = this.batches;
    let lo = this.head;
    let hi = batches.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((batches[mid] as ChangeBatch).revision <= after) lo = mid + 1;
      else hi = mid;
    }
    return batches.slice(lo, Math.min(batches.length, lo + limit));
  }

  private dropOldest(): void {
    const batch = this.batches[this.head] as ChangeBatch;
    this.heldBytes -= this.sizes[this.head] as number;
    this.batches[this.head] = undefined as unknown as ChangeBatch; // let it be collected
    this.head++;
    this.floorRevision = batch.revision;
  }
}
