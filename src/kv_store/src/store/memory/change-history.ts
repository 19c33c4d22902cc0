import type { Change, ChangeBatch, DeleteReason, HistoryCompacted, PreviousValue } from '../store.js';

/*
 * The bounded history of committed batches, fed from the commit point, from which watchers
 * catch up and resume (`changesSince`). It holds the newest batches up to a number of revisions
 * (KV_WATCH_HISTORY) and a number of bytes by estimate (KV_WATCH_HISTORY_BYTES), whichever is reached
 * first; older batches are dropped, and `floor` remembers the revision of the newest one
 * dropped: every batch after `floor` is held.
 *
 * Off the JavaScript heap. The history is written on every commit and read only when a watcher
 * falls behind, so it is kept as bytes: each batch is encoded (below) into 1 MiB chunks of
 * memory, and decoded back into ChangeBatch objects only by `since`. Ten thousand revisions of
 * changes with their previous values were otherwise tens of thousands of objects and strings
 * that every young-generation collection copied and then promoted, only for them to die in the
 * old generation a moment later: the collector's work, and the pauses, grew with the write rate.
 * Now a commit leaves no garbage that survives it, and the heap holds only a few numbers a batch.
 *
 * Layout. Batches are written one after another into the current chunk; one that does not fit
 * starts a new chunk (a batch larger than a chunk gets a chunk of its size). Per batch, four
 * typed rings hold its revision, chunk, offset and length (they double when full). Dropping the
 * oldest batch frees nothing at once: a chunk is given back (kept as the spare) when its last
 * batch is dropped. Finding where a watcher resumes is a binary search over the revisions.
 *
 * A batch, 8-byte aligned so numbers are stored through typed-array views (no DataView, no
 * byte-by-byte writes): u32 changes, u32 unused, f64 revision; then per change, 8-byte aligned:
 * f64 version, revision, createdAt, updatedAt, expiresAt, prev's version, prev's revision (those
 * a change has); u32 flags (type 0 put / 1 delete; reason << 8, 0 none, 1 delete, 2 expired,
 * 3 txn; prev << 16, 0 absent, 1 null, 2 held), u32 bytes of the key, of the value, of prev's
 * value; then the key's UTF-8, the value's and prev's JSON text.
 */

/** How much history to keep. */
export interface HistoryLimits {
  /** Most revisions held; 0 keeps none (a watch can then only start at the current revision). */
  readonly maxRevisions: number;
  /** Most bytes held, by estimate (batchBytes). */
  readonly maxBytes: number;
}

/** What one change counts toward maxBytes beyond its strings (as when batches were heap objects). */
const CHANGE_OVERHEAD_BYTES = 160;

/**
 * The bytes a batch counts toward maxBytes: an estimate kept from when the history held heap
 * objects (two bytes a UTF-16 unit and 160 a change), so KV_WATCH_HISTORY_BYTES means what it
 * did. The encoded batch is smaller for text that is mostly ASCII, and at most 1.5 times it
 * (three UTF-8 bytes for a unit) for text that is not.
 */
export function batchBytes(batch: ChangeBatch): number {
  let bytes = 64;
  for (const change of batch.changes) {
    bytes += CHANGE_OVERHEAD_BYTES + 2 * change.key.length;
    if (change.type === 'put') bytes += 2 * change.value.length;
    if (change.prev != null) bytes += 48 + 2 * change.prev.value.length;
  }
  return bytes;
}

const CHUNK_BYTES = 1 << 20;
const REASONS: readonly (DeleteReason | undefined)[] = [undefined, 'delete', 'expired', 'txn'];
const REASON_CODE: Readonly<Record<string, number>> = { delete: 1, expired: 2, txn: 3 };

interface Chunk {
  readonly bytes: Buffer;
  readonly f64: Float64Array;
  readonly u32: Uint32Array;
  /** Bytes written. */
  used: number;
  /** Batches held in it. */
  batches: number;
}

/** A change's fixed part: seven float64s (version, revision, createdAt, updatedAt, expiresAt, prev's version and revision), four uint32s (flags, key, value and prev bytes). */
const CHANGE_HEAD_BYTES = 72;

/** The most bytes `batch` can take encoded (UTF-8 is at most 3 bytes a UTF-16 unit; 7 of padding a change). */
function boundOf(batch: ChangeBatch): number {
  let bytes = 16;
  for (const change of batch.changes) {
    bytes += CHANGE_HEAD_BYTES + 7 + 3 * change.key.length;
    if (change.type === 'put') bytes += 3 * change.value.length;
    if (change.prev != null) bytes += 3 * change.prev.value.length;
  }
  return bytes;
}

export class ChangeHistory {
  private chunks: Chunk[] = [];
  private spare: Chunk | undefined;
  // Per batch, oldest at `head`, `count` of them, in rings of `capacity`.
  private capacity = 1024;
  private revisions = new Float64Array(this.capacity);
  private chunkOf = new Int32Array(this.capacity);
  private offsets = new Int32Array(this.capacity);
  private lengths = new Int32Array(this.capacity);
  /** Each batch's batchBytes, what it counts toward maxBytes. */
  private counted = new Float64Array(this.capacity);
  private head = 0;
  private count = 0;
  /** The chunk id of chunks[0]: chunks are numbered in the order they were started. */
  private firstChunk = 0;
  private heldBytes = 0;
  /** Every batch with a greater revision is held. */
  private floorRevision = 0;

  constructor(private readonly limits: HistoryLimits) {}

  /** Batches held. */
  get size(): number {
    return this.count;
  }

  /** The bytes the held batches count toward maxBytes (batchBytes). */
  get bytes(): number {
    return this.heldBytes;
  }

  /** The most revisions held (HistoryLimits.maxRevisions). */
  get maxRevisions(): number {
    return this.limits.maxRevisions;
  }

  /** Every batch after this revision is held. */
  get floor(): number {
    return this.floorRevision;
  }

  /** Holds nothing, and nothing at or before `revision` (the store was loaded at it): resuming from before it is compacted. */
  startAfter(revision: number): void {
    // Already empty (recovery calls this once per commit it replays quietly): only the floor moves.
    if (this.chunks.length === 0) {
      this.floorRevision = revision;
      return;
    }
    const current = this.chunks[this.chunks.length - 1];
    if (current !== undefined && current.bytes.length === CHUNK_BYTES) this.spare = current;
    this.firstChunk += this.chunks.length;
    this.chunks = [];
    this.head = 0;
    this.count = 0;
    this.heldBytes = 0;
    this.floorRevision = revision;
  }

  /** Keeps `batch` (the newest), dropping the oldest past the limits. */
  append(batch: ChangeBatch): void {
    if (this.limits.maxRevisions <= 0) {
      this.floorRevision = batch.revision;
      return;
    }
    const bound = boundOf(batch);
    let chunk = this.chunks[this.chunks.length - 1];
    if (chunk === undefined || chunk.used + bound > chunk.bytes.length) chunk = this.newChunk(bound);
    const start = chunk.used;
    const length = encode(batch, chunk, start);
    chunk.used = start + length;
    chunk.batches++;
    if (this.count === this.capacity) this.growRings();
    const at = (this.head + this.count) % this.capacity;
    this.revisions[at] = batch.revision;
    this.chunkOf[at] = this.firstChunk + this.chunks.length - 1;
    this.offsets[at] = start;
    this.lengths[at] = length;
    const counted = batchBytes(batch);
    this.counted[at] = counted;
    this.count++;
    this.heldBytes += counted;
    while (this.count > 0 && (this.count > this.limits.maxRevisions || this.heldBytes > this.limits.maxBytes)) this.dropOldest();
  }

  /** The batches after `after`, oldest first, at most `limit`; HistoryCompacted if some of them are no longer held. */
  since(after: number, limit: number): readonly ChangeBatch[] | HistoryCompacted {
    if (after < this.floorRevision) return { compacted: true, oldestRevision: this.floorRevision + 1 };
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.revisions[(this.head + mid) % this.capacity] as number) <= after) lo = mid + 1;
      else hi = mid;
    }
    const batches: ChangeBatch[] = [];
    for (let i = lo; i < this.count && batches.length < limit; i++) {
      const at = (this.head + i) % this.capacity;
      const chunk = this.chunks[(this.chunkOf[at] as number) - this.firstChunk] as Chunk;
      batches.push(decode(chunk, this.offsets[at] as number));
    }
    return batches;
  }

  private newChunk(bound: number): Chunk {
    let chunk: Chunk;
    if (bound <= CHUNK_BYTES && this.spare !== undefined) {
      chunk = this.spare;
      this.spare = undefined;
      chunk.used = 0;
      chunk.batches = 0;
    } else {
      const memory = new ArrayBuffer((Math.max(CHUNK_BYTES, bound) + 7) & ~7);
      chunk = { bytes: Buffer.from(memory), f64: new Float64Array(memory), u32: new Uint32Array(memory), used: 0, batches: 0 };
    }
    this.chunks.push(chunk);
    return chunk;
  }

  private growRings(): void {
    const capacity = this.capacity * 2;
    const order = (from: Float64Array | Int32Array, to: Float64Array | Int32Array): void => {
      for (let i = 0; i < this.count; i++) to[i] = from[(this.head + i) % this.capacity] as number;
    };
    const revisions = new Float64Array(capacity);
    const chunkOf = new Int32Array(capacity);
    const offsets = new Int32Array(capacity);
    const lengths = new Int32Array(capacity);
    const counted = new Float64Array(capacity);
    order(this.revisions, revisions);
    order(this.counted, counted);
    order(this.chunkOf, chunkOf);
    order(this.offsets, offsets);
    order(this.lengths, lengths);
    this.revisions = revisions;
    this.chunkOf = chunkOf;
    this.offsets = offsets;
    this.lengths = lengths;
    this.counted = counted;
    this.capacity = capacity;
    this.head = 0;
  }

  private dropOldest(): void {
    const at = this.head;
    this.heldBytes -= this.counted[at] as number;
    this.floorRevision = this.revisions[at] as number;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    const index = (this.chunkOf[at] as number) - this.firstChunk;
    const chunk = this.chunks[index] as Chunk;
    chunk.batches--;
    // Chunks empty from the front (batches are dropped oldest first); the current one stays.
    while (this.chunks.length > 1 && (this.chunks[0] as Chunk).batches === 0) {
      const done = this.chunks.shift() as Chunk;
      this.firstChunk++;
      if (done.bytes.length === CHUNK_BYTES) this.spare = done;
    }
  }
}

/** Writes `batch` at `at` (8-byte aligned; the room is there: boundOf); returns the bytes written, a multiple of 8. */
function encode(batch: ChangeBatch, chunk: Chunk, at: number): number {
  const { bytes, f64, u32 } = chunk;
  u32[at >>> 2] = batch.changes.length;
  f64[(at >>> 3) + 1] = batch.revision;
  let p = at + 16;
  for (const change of batch.changes) {
    const f = p >>> 3;
    const u = (p >>> 2) + 14;
    const prev = change.prev;
    const put = change.type === 'put';
    if (put) {
      f64[f] = change.version;
      f64[f + 2] = change.createdAt;
      f64[f + 3] = change.updatedAt;
      f64[f + 4] = change.expiresAt;
    }
    f64[f + 1] = change.revision;
    const reason = change.reason === undefined ? 0 : (REASON_CODE[change.reason] as number);
    u32[u] = (put ? 0 : 1) | (reason << 8) | ((prev === undefined ? 0 : prev === null ? 1 : 2) << 16);
    let q = p + CHANGE_HEAD_BYTES;
    const keyBytes = bytes.write(change.key, q, 'utf8');
    u32[u + 1] = keyBytes;
    q += keyBytes;
    if (put) {
      const valueBytes = bytes.write(change.value, q, 'utf8');
      u32[u + 2] = valueBytes;
      q += valueBytes;
    }
    if (prev != null) {
      f64[f + 5] = prev.version;
      f64[f + 6] = prev.revision;
      const prevBytes = bytes.write(prev.value, q, 'utf8');
      u32[u + 3] = prevBytes;
      q += prevBytes;
    }
    p = (q + 7) & ~7;
  }
  return p - at;
}

/** The batch encoded at `at`. */
function decode(chunk: Chunk, at: number): ChangeBatch {
  const { bytes, f64, u32 } = chunk;
  const n = u32[at >>> 2] as number;
  const revision = f64[(at >>> 3) + 1] as number;
  let p = at + 16;
  const changes: Change[] = [];
  for (let i = 0; i < n; i++) {
    const f = p >>> 3;
    const u = (p >>> 2) + 14;
    const flags = u32[u] as number;
    const reason = REASONS[(flags >>> 8) & 0xff];
    const prevState = flags >>> 16;
    let q = p + CHANGE_HEAD_BYTES;
    const keyBytes = u32[u + 1] as number;
    const key = bytes.toString('utf8', q, q + keyBytes);
    q += keyBytes;
    let change: Change;
    if ((flags & 0xff) === 0) {
      const valueBytes = u32[u + 2] as number;
      const value = bytes.toString('utf8', q, q + valueBytes);
      q += valueBytes;
      change = {
        type: 'put',
        key,
        value,
        version: f64[f] as number,
        revision: f64[f + 1] as number,
        createdAt: f64[f + 2] as number,
        updatedAt: f64[f + 3] as number,
        expiresAt: f64[f + 4] as number,
      };
      if (reason !== undefined) change = { ...change, reason: reason as 'txn' };
    } else change = { type: 'delete', key, revision: f64[f + 1] as number, reason: reason ?? 'delete' };
    if (prevState === 1) change.prev = null;
    else if (prevState === 2) {
      const prevBytes = u32[u + 3] as number;
      const value = bytes.toString('utf8', q, q + prevBytes);
      q += prevBytes;
      change.prev = { value, version: f64[f + 5] as number, revision: f64[f + 6] as number } satisfies PreviousValue;
    }
    changes.push(change);
    p = (q + 7) & ~7;
  }
  return { revision, changes };
}
