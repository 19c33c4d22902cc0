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
 * A batch: u32 changes, f64 revision; then per change: u8 type (0 put, 1 delete), u8 reason
 * (0 none, 1 delete, 2 expired, 3 txn), u8 prev (0 absent, 1 null, 2 held), u32 key bytes and
 * the key's UTF-8; a put: u32 value bytes, the value's JSON text, f64 version, revision,
 * createdAt, updatedAt, expiresAt; a delete: f64 revision; a held prev: u32 bytes, the value,
 * f64 version, revision.
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
  /** Bytes written. */
  used: number;
  /** Batches held in it. */
  batches: number;
}

/** The most bytes `batch` can take encoded (UTF-8 is at most 3 bytes a UTF-16 unit). */
function boundOf(batch: ChangeBatch): number {
  let bytes = 12;
  for (const change of batch.changes) {
    bytes += 7 + 3 * change.key.length + 48;
    if (change.type === 'put') bytes += 3 * change.value.length;
    if (change.prev != null) bytes += 20 + 3 * change.prev.value.length;
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

  /** Every batch after this revision is held. */
  get floor(): number {
    return this.floorRevision;
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
    const length = encode(batch, chunk.bytes, start);
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
      batches.push(decode(chunk.bytes, this.offsets[at] as number));
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
    } else chunk = { bytes: Buffer.allocUnsafeSlow(Math.max(CHUNK_BYTES, bound)), used: 0, batches: 0 };
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

/** Writes `batch` at `at` (the room is there: boundOf); returns the bytes written. */
function encode(batch: ChangeBatch, bytes: Buffer, at: number): number {
  let p = at;
  p = bytes.writeUInt32LE(batch.changes.length, p);
  p = bytes.writeDoubleLE(batch.revision, p);
  for (const change of batch.changes) {
    bytes[p++] = change.type === 'put' ? 0 : 1;
    bytes[p++] = change.reason === undefined ? 0 : (REASON_CODE[change.reason] as number);
    const prev = change.prev;
    bytes[p++] = prev === undefined ? 0 : prev === null ? 1 : 2;
    p = writeText(bytes, p, change.key);
    if (change.type === 'put') {
      p = writeText(bytes, p, change.value);
      p = bytes.writeDoubleLE(change.version, p);
      p = bytes.writeDoubleLE(change.revision, p);
      p = bytes.writeDoubleLE(change.createdAt, p);
      p = bytes.writeDoubleLE(change.updatedAt, p);
      p = bytes.writeDoubleLE(change.expiresAt, p);
    } else p = bytes.writeDoubleLE(change.revision, p);
    if (prev != null) {
      p = writeText(bytes, p, prev.value);
      p = bytes.writeDoubleLE(prev.version, p);
      p = bytes.writeDoubleLE(prev.revision, p);
    }
  }
  return p - at;
}

/** A u32 length and the text's UTF-8; returns the position after it. */
function writeText(bytes: Buffer, at: number, text: string): number {
  const length = bytes.write(text, at + 4, 'utf8');
  bytes.writeUInt32LE(length, at);
  return at + 4 + length;
}

/** The batch encoded at `at`. */
function decode(bytes: Buffer, at: number): ChangeBatch {
  let p = at;
  const n = bytes.readUInt32LE(p);
  const revision = bytes.readDoubleLE(p + 4);
  p += 12;
  const text = (): string => {
    const length = bytes.readUInt32LE(p);
    const value = bytes.toString('utf8', p + 4, p + 4 + length);
    p += 4 + length;
    return value;
  };
  const number = (): number => {
    const value = bytes.readDoubleLE(p);
    p += 8;
    return value;
  };
  const changes: Change[] = [];
  for (let i = 0; i < n; i++) {
    const type = bytes[p] as number;
    const reason = REASONS[bytes[p + 1] as number];
    const prevState = bytes[p + 2] as number;
    p += 3;
    const key = text();
    let change: Change;
    if (type === 0) {
      const value = text();
      const version = number();
      const changeRevision = number();
      const createdAt = number();
      const updatedAt = number();
      const expiresAt = number();
      change = { type: 'put', key, value, version, revision: changeRevision, createdAt, updatedAt, expiresAt };
      if (reason !== undefined) change = { ...change, reason: reason as 'txn' };
    } else {
      change = { type: 'delete', key, revision: number(), reason: reason ?? 'delete' };
    }
    if (prevState === 1) change.prev = null;
    else if (prevState === 2) {
      const value = text();
      const version = number();
      const prevRevision = number();
      change.prev = { value, version, revision: prevRevision } satisfies PreviousValue;
    }
    changes.push(change);
  }
  return { revision, changes };
}
