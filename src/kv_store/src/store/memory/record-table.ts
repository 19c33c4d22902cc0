import { type HashKey, halfSipHash, randomHashKey } from './half-siphash.js';
import type { ListItemVisitor } from '../store.js';
import { type SlabPrefaulter, startPrefaulter } from './slab-prefaulter.js';

/*
 * Entries live outside the JavaScript heap, as records in 4 MiB slabs of memory, and a hash
 * index of two Uint32Arrays finds them by key. A million entries are then a few dozen
 * ArrayBuffers instead of three million heap objects: no per-entry headers, pointers or hidden
 * classes (docs/performance.md, "Where the bytes go"), and nothing for the garbage collector to
 * trace or copy, so storing keys costs no GC pauses.
 *
 * A record, 8-byte aligned:
 *   0 revision   8 createdAt   16 updatedAt   24 expiresAt (Infinity: never)   32 version   (float64)
 *   40 key bytes  44 value bytes (uint32)   48 the key's UTF-8, then the value's JSON text
 * A durable snapshot stores records in this layout (record-format.ts, RECORDS), padded to 8 bytes,
 * and `adoptRecords` loads them by copying whole runs of them into a slab and indexing them there.
 * Records are allocated in size classes (multiples of 8 bytes up to 256, then 8 classes per
 * power of two, so at most 1/8 is rounding) and freed records are reused by their class. A freed
 * record is marked (key length FREE) with its size in the value length, so a slab can be walked.
 * `maintain`, run a few times a second, gives empty slabs back and, when much of the memory held
 * is free records of the wrong sizes, moves the live records out of the emptiest slab (at most
 * 256 KiB of copying per call), so memory held follows memory used.
 *
 * The index is open addressing with linear probing over two Uint32Arrays (record address + 1,
 * and the key's HalfSipHash). Index positions and record addresses are different numbers with
 * different types. Writes are two-phase, as in Valkey's dict: `probe(key)` finds the key or the
 * place it would go, and `insertAt(probe, ...)` or `rewrite(position, ...)` completes the write;
 * a probe is spent by any change to the table, and insertAt refuses a spent one.
 *
 * Resizing is incremental, as Valkey's dict rehashes (`dictRehash(d, n)`): the index doubles
 * (or halves) by allocating the new pair of arrays and then moving entries across a bounded
 * number of slots at a time: REHASH_STEP_SLOTS on every insert and removal, and
 * MAINTAIN_REHASH_SLOTS on each `maintain` (the sweeper's tick), so no single operation pays for
 * the whole index. While a resize is under way there are two tables: inserts go to the new one,
 * lookups and removals look in both, and a key is in exactly one. With linear probing an entry
 * cannot simply be lifted out of the old table (a key further along its cluster would become
 * unreachable), so the walk moves whole clusters: it starts at an empty slot of the old table
 * and, slot by slot, either steps over an empty slot or moves the entire cluster that starts
 * there. Invariants while resizing: every old slot the walk has passed is empty; the walk stands
 * on an empty slot or at the start of a cluster; nothing is ever inserted into the old table, and
 * backward-shift deletion there moves entries only within their own cluster (ahead of the walk).
 * The walk is bounded to finish long before the new table needs to grow (16 slots per insert
 * against the 2 needed); should it not have, the rest is moved at once. Positions in the old
 * table are OLD_TABLE + slot, so a position still names one slot of one table.
 */

const REVISION = 0;
const CREATED = 1;
const UPDATED = 2;
const EXPIRES = 3;
const VERSION = 4;
/** The uint32 index (in the slab's Uint32Array view, from the record start) of the key length. */
const KEY_BYTES = 10;
const VALUE_BYTES = 11;
export const RECORD_HEADER_BYTES = 48;

const SLAB_SHIFT = 22;
const SLAB_BYTES = 1 << SLAB_SHIFT;
/** A record address: slab number × 2^19 + offset / 8, in 32 bits (up to 8192 slabs). */
const UNIT_SHIFT = 3;
const OFFSET_BITS = SLAB_SHIFT - UNIT_SHIFT;
const OFFSET_MASK = (1 << OFFSET_BITS) - 1;
const MAX_SLABS = 2 ** (32 - OFFSET_BITS);
/** Records this large get a slab of their own, freed with them. */
const LARGE_RECORD = SLAB_BYTES / 4;
/**
 * Most bytes of live records maintain() moves in one call. With the ordered index following each
 * record moved (a search of a few µs, more when the code is not yet compiled), 256 KiB of records
 * took 3-12 ms, so the engine also gives a call a deadline (MaintainOptions.overdue), looked at
 * every EVACUATE_CLOCK_MASK + 1 records.
 */
const MAINTAIN_STEP_BYTES = 256 * 1024;
const EVACUATE_CLOCK_MASK = 15;
/** The key length of a freed record. */
const FREE = 0xffffffff;
/** `slabTop` of a slab holding one large record. */
const DEDICATED = -1;

/** Index slots per entry at most; the index doubles past a load of one half. */
const MAX_LOAD = 0.5;
const INITIAL_INDEX_SLOTS = 1024;
/** Old-index slots a resize walks on each insert and removal (2 would do: see the essay). */
const REHASH_STEP_SLOTS = 16;
/** Old-index slots a resize walks on each maintain() (about 0.3 ms of work). */
const MAINTAIN_REHASH_SLOTS = 65_536;
/** The most entries `reserve` sizes the index for: 2^25 slots, 256 MiB of index. */
const MAX_RESERVED_ENTRIES = 2 ** 24;
/** Positions at or above this are slots of the old table during a resize. */
const OLD_TABLE = 2 ** 32;
/** What the index costs per entry at its fullest: 2 slots of two uint32s. */
export const INDEX_BYTES_PER_ENTRY = 16;

/**
 * Copies `length` bytes: a loop for a few (most keys), Buffer#copy for more. On Node 20 Buffer#copy
 * costs about 170 ns however few the bytes (it makes a view of the source to copy from); the
 * loop about 6 ns a byte, so below about 28 bytes the loop is faster.
 */
function copyBytes(from: Buffer, fromStart: number, to: Buffer, toStart: number, length: number): void {
  if (length > 24) {
    from.copy(to, toStart, fromStart, fromStart + length);
    return;
  }
  for (let i = 0; i < length; i++) to[toStart + i] = from[fromStart + i] as number;
}

/** The bytes a record of `recordBytes` takes: its size class. */
export function recordClassBytes(recordBytes: number): number {
  if (recordBytes <= 256) return (recordBytes + 7) & ~7;
  const step = 2 ** (31 - Math.clz32(recordBytes - 1) - 3);
  return Math.ceil(recordBytes / step) * step;
}

interface Slab {
  readonly bytes: Buffer;
  readonly f64: Float64Array;
  readonly u32: Uint32Array;
}

function newSlab(memory: ArrayBuffer | SharedArrayBuffer): Slab {
  return { bytes: Buffer.from(memory), f64: new Float64Array(memory), u32: new Uint32Array(memory) };
}

/** A value's JSON text as UTF-8: `valueBytes` bytes at `valueStart` of `bytes` (an entry read from a file). */
export interface ValueUtf8 {
  readonly bytes: Buffer;
  readonly valueStart: number;
  readonly valueBytes: number;
}

/** The numbers of a record. */
export interface RecordNumbers {
  readonly version: number;
  readonly revision: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Infinity when the entry never expires. */
  readonly expiresAt: number;
}

/** A record's bytes where they lie (RecordTable.image): header, key and value, `length` bytes from `start`. */
export interface RecordImage {
  readonly bytes: Buffer;
  readonly start: number;
  readonly length: number;
}

/** Where a record lives: slab number × 2^19 + offset / 8. Not an index position. */
export type RecordAddress = number & { readonly __brand: 'RecordAddress' };

/** A slot of the hash index. Valid only until the table next changes. Not a record address. */
export type IndexPosition = number & { readonly __brand: 'IndexPosition' };

/** No such position: `find` did not find the key. */
export const NOT_FOUND = -1 as IndexPosition;

/**
 * The first phase of an insert-or-update: where `key` is (`position`), or where it would go
 * (`slot`), with the key's UTF-8 held by the table for the second phase. A probe is spent by
 * any change to the table: `insertAt` refuses one that is stale.
 */
export interface KeyProbe {
  /** The key's position, or NOT_FOUND. */
  readonly position: IndexPosition;
  readonly key: string;
  /** The key's hash (what the expiry queue keeps). */
  readonly hash: number;
}

/** What maintain() may do. */
export interface MaintainOptions {
  /** Move live records out of emptied slabs (default true). */
  readonly evacuate?: boolean | undefined;
  /** Called with the new address of each record moved, and its old one (still readable then). */
  readonly moved?: ((address: RecordAddress, from: RecordAddress) => void) | undefined;
  /** True when this call has taken its time: no more records are moved (asked every few records). */
  readonly overdue?: (() => boolean) | undefined;
}

export class RecordTable {
  private readonly slabs: Array<Slab | undefined> = [];
  private readonly freeSlabIds: number[] = [];
  private readonly freeRecords = new Map<number, number[]>();
  /** Per slab: bytes of live records, and the end of what was allocated (DEDICATED for a large record's). */
  private readonly slabLive: number[] = [];
  private readonly slabTop: number[] = [];
  /** Per slab: bumped when its free records must not be reused (it is being emptied or was given back). */
  private readonly slabGen: number[] = [];
  /** The slab being emptied by maintain(), or -1; and how far its walk has come. */
  private evacuating = -1;
  private evacuateAt = 0;
  private current = -1;
  private top = SLAB_BYTES;
  /** Bytes of freed small records waiting for reuse. */
  freeBytes = 0;

  // The index: open addressing, linear probing; 0 is an empty slot, else record address + 1.
  private slots = new Uint32Array(INITIAL_INDEX_SLOTS);
  private hashes = new Uint32Array(INITIAL_INDEX_SLOTS);
  private mask = INITIAL_INDEX_SLOTS - 1;
  /** During a resize, the table being drained (else empty, and oldMask -1); and the walk's place and progress. */
  private oldSlots = new Uint32Array(0);
  private oldHashes = new Uint32Array(0);
  private oldMask = -1;
  private rehashAt = 0;
  private rehashWalked = 0;
  private count = 0;
  private readonly hashKey: HashKey = randomHashKey();

  /** The key of the current probe as UTF-8, and that probe's state (reused: probing allocates nothing). */
  private scratch = Buffer.alloc(4096);
  private readonly probeState = { position: NOT_FOUND, key: '', length: 0, hash: 0, changes: -1 };
  /** Counts changes to the index, so a probe taken before one is known to be stale. */
  private changes = 0;

  /** Bytes of slab memory held, records and free space together. */
  reservedBytes = 0;
  /** While a load from disk is under way: slabs faulted in ahead by a worker. */
  private prefaulter: SlabPrefaulter | undefined;

  get size(): number {
    return this.count;
  }

  /**
   * Sizes the empty index for `entries` at once, as a snapshot about to load knows how many it
   * holds: no resizes on the way, and no smaller tables allocated, touched and dropped (on the
   * way to a million keys, about 16 MB of fresh memory). Does nothing once the table holds entries.
   * At most MAX_RESERVED_ENTRIES are reserved for (a hint read from a damaged file could be any
   * number); past them the index grows as it always does.
   */
  reserve(entries: number): void {
    if (this.count !== 0) return;
    const wanted = Math.min(entries, MAX_RESERVED_ENTRIES);
    let capacity = this.slots.length;
    while (wanted > capacity * MAX_LOAD) capacity *= 2;
    if (capacity > this.slots.length) this.resize(capacity);
  }

  /**
   * Has a worker on another core fault in the pages of the slabs the table will take next,
   * ahead of their use (slab-prefaulter.ts), until `endPrefault`: for a load from disk. Does
   * nothing on one core, or while a prefault is under way.
   */
  prefault(): void {
    this.prefaulter ??= startPrefaulter(SLAB_BYTES);
  }

  /** Stops the prefault worker; slabs it faulted in and the table did not take are dropped. */
  endPrefault(): void {
    this.prefaulter?.close();
    this.prefaulter = undefined;
  }

  /** The index position of `key`'s record, or NOT_FOUND. Positions hold only until the next change. */
  find(key: string): IndexPosition {
    return this.probe(key).position;
  }

  /**
   * Finds `key` for a later insert or update: its position, or NOT_FOUND with the key kept
   * (as UTF-8, hashed) for `insertAt`. The probe is the table's own, reused by the next call.
   */
  probe(key: string): KeyProbe {
    return this.search(key, this.encode(key));
  }

  /**
   * `probe` for a key given as its UTF-8 (`length` bytes at `start` of `bytes`), as a snapshot
   * file holds it: copied, not decoded. The probe's `key` is '' (no key is empty), so `reprobe`
   * never takes it for a key's.
   */
  probeUtf8(bytes: Buffer, start: number, length: number): KeyProbe {
    if (length > this.scratch.length) this.scratch = Buffer.alloc(length);
    copyBytes(bytes, start, this.scratch, 0, length);
    return this.search('', length);
  }

  /** Looks up the key whose UTF-8 (`length` bytes) is in `scratch`, in both tables while resizing. */
  private search(key: string, length: number): KeyProbe {
    const state = this.probeState;
    const hash = halfSipHash(this.hashKey, this.scratch, length);
    state.key = key;
    state.length = length;
    state.hash = hash;
    state.changes = this.changes;
    state.position = NOT_FOUND;
    const slots = this.slots;
    const hashes = this.hashes;
    const mask = this.mask;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const slot = slots[i] as number;
      if (slot === 0) break;
      if (hashes[i] === hash && this.keyEquals((slot - 1) as RecordAddress, length)) {
        state.position = i as IndexPosition;
        return state;
      }
    }
    if (this.oldMask >= 0) {
      const old = this.oldSlots;
      const oldHashes = this.oldHashes;
      const oldMask = this.oldMask;
      for (let i = hash & oldMask; ; i = (i + 1) & oldMask) {
        const slot = old[i] as number;
        if (slot === 0) break;
        if (oldHashes[i] === hash && this.keyEquals((slot - 1) as RecordAddress, length)) {
          state.position = (OLD_TABLE + i) as IndexPosition;
          break;
        }
      }
    }
    return state;
  }

  /**
   * The latest probe if it is of `key` and nothing has changed the index since it was taken;
   * else a new probe. The commit path asks for the same key several times (to plan, to size,
   * to apply): only the first one hashes and searches.
   */
  reprobe(key: string): KeyProbe {
    const state = this.probeState;
    return state.key === key && state.changes === this.changes ? state : this.probe(key);
  }

  /** True while the index is being resized (two tables). */
  get resizing(): boolean {
    return this.oldMask >= 0;
  }

  /** Index slots: of the table inserts go to (the new one during a resize). */
  get indexSlots(): number {
    return this.slots.length;
  }

  /**
   * The position of a record whose key hashes to `hash` and that `pick` accepts (given its
   * address), or NOT_FOUND: how the expiry queue, which keeps hashes and not keys, finds the
   * entry an item is for. Looks along the hash's probe sequence in both tables.
   */
  findByHash(hash: number, pick: (address: RecordAddress) => boolean): IndexPosition {
    const slots = this.slots;
    const hashes = this.hashes;
    const mask = this.mask;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const slot = slots[i] as number;
      if (slot === 0) break;
      if (hashes[i] === hash && pick((slot - 1) as RecordAddress)) return i as IndexPosition;
    }
    if (this.oldMask >= 0) {
      const old = this.oldSlots;
      const oldHashes = this.oldHashes;
      const oldMask = this.oldMask;
      for (let i = hash & oldMask; ; i = (i + 1) & oldMask) {
        const slot = old[i] as number;
        if (slot === 0) break;
        if (oldHashes[i] === hash && pick((slot - 1) as RecordAddress)) return (OLD_TABLE + i) as IndexPosition;
      }
    }
    return NOT_FOUND;
  }

  /** The key hash of the record at an index position (what the expiry queue keeps). */
  hashAt(position: IndexPosition): number {
    return (position >= OLD_TABLE ? this.oldHashes[position - OLD_TABLE] : this.hashes[position]) as number;
  }

  /** The record address at an index position. */
  addressAt(position: IndexPosition): RecordAddress {
    const slot = position >= OLD_TABLE ? this.oldSlots[position - OLD_TABLE] : this.slots[position];
    if (slot === undefined || slot === 0) throw new RangeError(`no record at index position ${position}`);
    return (slot - 1) as RecordAddress;
  }

  /**
   * The second phase: adds a record for the key `probe` did not find. The probe must be the
   * latest and the table unchanged since it was taken. Returns the record's address.
   */
  insertAt(probe: KeyProbe, value: string, numbers: RecordNumbers): RecordAddress {
    const valueBytes = Buffer.byteLength(value);
    const address = this.insertKey(probe, valueBytes);
    this.writeValue(this.slabOf(address), this.offsetOf(address), this.probeState.length, value, valueBytes, numbers);
    return address;
  }

  /**
   * `insertAt` with the value given as its UTF-8 (`valueBytes` bytes at `valueStart` of `bytes`),
   * as a snapshot file holds it: copied, not decoded and encoded again.
   */
  insertUtf8At(probe: KeyProbe, bytes: Buffer, valueStart: number, valueBytes: number, numbers: RecordNumbers): RecordAddress {
    const address = this.insertKey(probe, valueBytes);
    const slab = this.slabOf(address);
    const at = this.offsetOf(address);
    this.writeNumbers(slab, at, valueBytes, numbers);
    bytes.copy(slab.bytes, at + RECORD_HEADER_BYTES + this.probeState.length, valueStart, valueStart + valueBytes);
    return address;
  }

  /**
   * Adds `count` records given as images, as a snapshot file holds them (`data` from `start`,
   * read through `view`, viewOf(data)): each record laid out as the table lays it out (the
   * header, the key's and value's bytes) and then zeros to a multiple of 8 bytes. The images must
   * have been checked: every length within `data`, every key at least a byte long. Records land
   * in the slabs in order, so a run of them that lies in `data` as it will in the slab is copied
   * at once and then indexed: a whole snapshot record's worth with most values, where a copy
   * per record cost about 100-220 ns (more than the copy itself). `added` is told each record's
   * address and key hash, in order. A key the table holds already is a RangeError; the records
   * before it stay added, the others are freed.
   */
  adoptRecords(data: Buffer, view: DataView, start: number, count: number, added: (address: RecordAddress, hash: number) => void): void {
    // The run being gathered: its bytes in `data`, where it goes (slab and offset), and whether a
    // next record may join it (not after a record whose size class is larger than its image).
    let runFrom = 0;
    let runTo = 0;
    let runSlab = -1;
    let runAt = 0;
    let open = false;
    let at = start;
    for (let n = 0; n < count; n++) {
      const keyBytes = view.getUint32(at + 4 * KEY_BYTES, true);
      const valueBytes = view.getUint32(at + 4 * VALUE_BYTES, true);
      const used = RECORD_HEADER_BYTES + keyBytes + valueBytes;
      // Plain arithmetic: a checked image is shorter than its record (under 4 GiB), but `&` would wrap past 2 GiB.
      const image = Math.ceil(used / 8) * 8;
      const size = recordClassBytes(used);
      let address: RecordAddress;
      try {
        address = this.allocate(size);
      } catch (err) {
        // No memory for this one: the run before it is still copied in and indexed.
        if (runSlab !== -1) this.adoptRun(data, runFrom, runTo, runSlab, runAt, added);
        throw err;
      }
      const id = address >>> OFFSET_BITS;
      const offset = this.offsetOf(address);
      if (open && size === image && id === runSlab && offset === runAt + (runTo - runFrom)) {
        runTo += image;
      } else {
        if (runSlab !== -1) {
          try {
            this.adoptRun(data, runFrom, runTo, runSlab, runAt, added);
          } catch (err) {
            // This record is allocated but not yet written: give it its lengths, so it is freed by its own size.
            const slab = this.slabOf(address);
            slab.u32[(offset >>> 2) + KEY_BYTES] = keyBytes;
            slab.u32[(offset >>> 2) + VALUE_BYTES] = valueBytes;
            this.release(address);
            throw err;
          }
        }
        runFrom = at;
        runTo = at + (size === image ? image : used);
        runSlab = id;
        runAt = offset;
        open = size === image;
      }
      at += image;
    }
    if (runSlab !== -1) this.adoptRun(data, runFrom, runTo, runSlab, runAt, added);
  }

  /** Copies the run `data[from, to)` to slab `id` at `slabAt`, where its records were allocated, and indexes them. */
  private adoptRun(
    data: Buffer,
    from: number,
    to: number,
    id: number,
    slabAt: number,
    added: (address: RecordAddress, hash: number) => void,
  ): void {
    const slab = this.slabs[id] as Slab;
    data.copy(slab.bytes, slabAt, from, to);
    const end = slabAt + (to - from);
    for (let at = slabAt; at < end; ) {
      const i = at >>> 2;
      const keyBytes = slab.u32[i + KEY_BYTES] as number;
      const size = recordClassBytes(RECORD_HEADER_BYTES + keyBytes + (slab.u32[i + VALUE_BYTES] as number));
      const address = (id * 2 ** OFFSET_BITS + (at >>> UNIT_SHIFT)) as RecordAddress;
      if (keyBytes > this.scratch.length) this.scratch = Buffer.alloc(keyBytes);
      copyBytes(slab.bytes, at + RECORD_HEADER_BYTES, this.scratch, 0, keyBytes);
      const probe = this.search('', keyBytes);
      if (probe.position !== NOT_FOUND) {
        // Not indexed: this record and the rest of the run go back.
        for (let rest = at; rest < end; ) {
          const unindexed = (id * 2 ** OFFSET_BITS + (rest >>> UNIT_SHIFT)) as RecordAddress;
          rest += this.classBytes(unindexed);
          this.release(unindexed);
        }
        throw new RangeError('a key loaded twice from one snapshot');
      }
      const hash = probe.hash;
      if (this.oldMask >= 0) this.rehashStep(REHASH_STEP_SLOTS);
      if (this.count + 1 > (this.mask + 1) * MAX_LOAD) this.resize(this.slots.length * 2);
      let slot = hash & this.mask;
      while (this.slots[slot] !== 0) slot = (slot + 1) & this.mask;
      this.slots[slot] = address + 1;
      this.hashes[slot] = hash;
      this.count++;
      this.changes++;
      added(address, hash);
      at += size;
    }
  }

  /**
   * The record at `address` as an image (adoptRecords): the bytes it uses in its slab, from
   * `start`, `length` long (header, key and value). Valid until the record next changes.
   */
  image(address: RecordAddress): RecordImage {
    const slab = this.slabOf(address);
    const at = this.offsetOf(address);
    const i = at >>> 2;
    return {
      bytes: slab.bytes,
      start: at,
      length: RECORD_HEADER_BYTES + (slab.u32[i + KEY_BYTES] as number) + (slab.u32[i + VALUE_BYTES] as number),
    };
  }

  /** Allocates the record of the key `probe` did not find, with room for `valueBytes`, writes the key and indexes it. */
  private insertKey(probe: KeyProbe, valueBytes: number): RecordAddress {
    const state = this.probeState;
    if (probe !== state || state.changes !== this.changes || state.position !== NOT_FOUND) {
      throw new Error('insertAt needs a fresh probe that did not find its key');
    }
    if (this.oldMask >= 0) this.rehashStep(REHASH_STEP_SLOTS);
    if (this.count + 1 > (this.mask + 1) * MAX_LOAD) this.resize(this.slots.length * 2);
    const keyBytes = state.length;
    const address = this.allocate(recordClassBytes(RECORD_HEADER_BYTES + keyBytes + valueBytes));
    const slab = this.slabOf(address);
    const at = this.offsetOf(address);
    copyBytes(this.scratch, 0, slab.bytes, at + RECORD_HEADER_BYTES, keyBytes);
    slab.u32[(at >>> 2) + KEY_BYTES] = keyBytes;
    let i = state.hash & this.mask;
    while (this.slots[i] !== 0) i = (i + 1) & this.mask;
    this.slots[i] = address + 1;
    this.hashes[i] = state.hash;
    this.count++;
    this.changes++;
    return address;
  }

  /**
   * Gives the record at `position` a new value and numbers, in place when it fits its size
   * class, else moved to a record of the right class. With `keepOld`, always a new record, and
   * the old one is left as it is, out of the index, for the caller to `free` later (a pinned
   * snapshot may still read it). Returns the (maybe new) address. The value is its JSON text, or
   * that text's UTF-8 as a logged commit holds it (copied, not decoded and encoded again).
   */
  rewrite(position: IndexPosition, value: string | ValueUtf8, numbers: RecordNumbers, keepOld = false): RecordAddress {
    const old = this.addressAt(position);
    const oldSlab = this.slabOf(old);
    const oldAt = this.offsetOf(old);
    const keyBytes = oldSlab.u32[(oldAt >>> 2) + KEY_BYTES] as number;
    const valueBytes = typeof value === 'string' ? Buffer.byteLength(value) : value.valueBytes;
    const size = recordClassBytes(RECORD_HEADER_BYTES + keyBytes + valueBytes);
    if (size === this.classBytes(old) && !keepOld) {
      this.writeValue(oldSlab, oldAt, keyBytes, value, valueBytes, numbers);
      return old;
    }
    const address = this.allocate(size);
    const slab = this.slabOf(address);
    const at = this.offsetOf(address);
    oldSlab.bytes.copy(slab.bytes, at + RECORD_HEADER_BYTES, oldAt + RECORD_HEADER_BYTES, oldAt + RECORD_HEADER_BYTES + keyBytes);
    slab.u32[(at >>> 2) + KEY_BYTES] = keyBytes;
    this.writeValue(slab, at, keyBytes, value, valueBytes, numbers);
    if (!keepOld) this.release(old);
    if (position >= OLD_TABLE) this.oldSlots[position - OLD_TABLE] = address + 1;
    else this.slots[position] = address + 1;
    return address;
  }

  /** Removes the record at `position` from the index and frees it. */
  removeAt(position: IndexPosition): void {
    this.release(this.detachAt(position));
  }

  /**
   * Removes the record at `position` from the index but keeps it, readable at its address, until
   * `free` (a pinned snapshot may still read it). Returns its address. Backward-shift deletion:
   * no tombstones.
   */
  detachAt(position: IndexPosition): RecordAddress {
    const address = this.addressAt(position);
    this.count--;
    this.changes++;
    if (position >= OLD_TABLE) shiftDelete(this.oldSlots, this.oldHashes, this.oldMask, position - OLD_TABLE);
    else shiftDelete(this.slots, this.hashes, this.mask, position);
    if (this.oldMask >= 0) this.rehashStep(REHASH_STEP_SLOTS);
    return address;
  }

  /** Frees a record that `detachAt` or `rewrite(..., keepOld)` left out of the index. */
  free(address: RecordAddress): void {
    this.release(address);
  }

  /** The bytes the record at `address` takes (its size class). */
  classBytes(address: RecordAddress): number {
    return recordClassBytes(RECORD_HEADER_BYTES + this.keyBytes(address) + this.valueBytes(address));
  }

  /** The memory holding the record at `address`, for reading its key's UTF-8 in place (from keyStart, keyBytes long). */
  keySlab(address: RecordAddress): Buffer {
    return this.slabOf(address).bytes;
  }

  /** Where the key's UTF-8 of the record at `address` starts in its keySlab. */
  keyStart(address: RecordAddress): number {
    return this.offsetOf(address) + RECORD_HEADER_BYTES;
  }

  keyBytes(address: RecordAddress): number {
    return this.slabOf(address).u32[(this.offsetOf(address) >>> 2) + KEY_BYTES] as number;
  }

  valueBytes(address: RecordAddress): number {
    return this.slabOf(address).u32[(this.offsetOf(address) >>> 2) + VALUE_BYTES] as number;
  }

  value(address: RecordAddress): string {
    const slab = this.slabOf(address);
    const at = this.offsetOf(address);
    const i = at >>> 2;
    const start = at + RECORD_HEADER_BYTES + (slab.u32[i + KEY_BYTES] as number);
    return slab.bytes.toString('utf8', start, start + (slab.u32[i + VALUE_BYTES] as number));
  }

  key(address: RecordAddress): string {
    const slab = this.slabOf(address);
    const at = this.offsetOf(address);
    const start = at + RECORD_HEADER_BYTES;
    return slab.bytes.toString('utf8', start, start + (slab.u32[(at >>> 2) + KEY_BYTES] as number));
  }

  version(address: RecordAddress): number {
    return this.number(address, VERSION);
  }

  revision(address: RecordAddress): number {
    return this.number(address, REVISION);
  }

  createdAt(address: RecordAddress): number {
    return this.number(address, CREATED);
  }

  updatedAt(address: RecordAddress): number {
    return this.number(address, UPDATED);
  }

  /** When the entry expires; Infinity if it never does. */
  expiresAt(address: RecordAddress): number {
    return this.number(address, EXPIRES);
  }

  /**
   * Hands the record at `address` to a listing's visitor: its key's and value's bytes where they
   * lie, and its numbers, the slab and offset found once (a page reads a hundred records).
   */
  visit(address: RecordAddress, visitor: ListItemVisitor): void {
    const slab = this.slabOf(address);
    const at = this.offsetOf(address);
    const f = at >>> 3;
    const i = at >>> 2;
    const f64 = slab.f64;
    const keyStart = at + RECORD_HEADER_BYTES;
    const keyBytes = slab.u32[i + KEY_BYTES] as number;
    visitor.item(
      slab.bytes,
      keyStart,
      keyBytes,
      keyStart + keyBytes,
      slab.u32[i + VALUE_BYTES] as number,
      f64[f + VERSION] as number,
      f64[f + REVISION] as number,
      f64[f + CREATED] as number,
      f64[f + UPDATED] as number,
      f64[f + EXPIRES] as number,
    );
  }

  private number(address: RecordAddress, field: number): number {
    return this.slabOf(address).f64[(this.offsetOf(address) >>> 3) + field] as number;
  }

  private writeValue(
    slab: Slab,
    at: number,
    keyBytes: number,
    value: string | ValueUtf8,
    valueBytes: number,
    numbers: RecordNumbers,
  ): void {
    this.writeNumbers(slab, at, valueBytes, numbers);
    const start = at + RECORD_HEADER_BYTES + keyBytes;
    if (typeof value === 'string') slab.bytes.write(value, start, valueBytes, 'utf8');
    else value.bytes.copy(slab.bytes, start, value.valueStart, value.valueStart + valueBytes);
  }

  /** A record's numbers and its value's length (the value's bytes are the caller's to write). */
  private writeNumbers(slab: Slab, at: number, valueBytes: number, numbers: RecordNumbers): void {
    const f = at >>> 3;
    const f64 = slab.f64;
    f64[f + REVISION] = numbers.revision;
    f64[f + CREATED] = numbers.createdAt;
    f64[f + UPDATED] = numbers.updatedAt;
    f64[f + EXPIRES] = numbers.expiresAt;
    f64[f + VERSION] = numbers.version;
    slab.u32[(at >>> 2) + VALUE_BYTES] = valueBytes;
  }

  private slabOf(address: RecordAddress): Slab {
    return this.slabs[address >>> OFFSET_BITS] as Slab;
  }

  private offsetOf(address: RecordAddress): number {
    return (address & OFFSET_MASK) << UNIT_SHIFT;
  }

  /** Puts `key` as UTF-8 into `scratch`; returns its length in bytes. */
  private encode(key: string): number {
    // UTF-8 has no lone surrogates: they would all encode as U+FFFD and so name the same record.
    if (!key.isWellFormed()) throw new RangeError('a key must be well-formed UTF-16 (it has a lone surrogate)');
    if (key.length * 3 > this.scratch.length) this.scratch = Buffer.alloc(key.length * 3);
    return this.scratch.write(key, 0, 'utf8');
  }

  private keyEquals(address: RecordAddress, length: number): boolean {
    const slab = this.slabOf(address);
    const at = this.offsetOf(address);
    if (slab.u32[(at >>> 2) + KEY_BYTES] !== length) return false;
    const bytes = slab.bytes;
    const scratch = this.scratch;
    const start = at + RECORD_HEADER_BYTES;
    if (length > 32) return scratch.compare(bytes, start, start + length, 0, length) === 0;
    for (let i = 0; i < length; i++) if (scratch[i] !== bytes[start + i]) return false;
    return true;
  }

  /**
   * Starts moving the index to `capacity` slots: the current table becomes the old one, drained
   * by rehashStep. A resize still under way is finished first (the step sizes make that rare).
   */
  private resize(capacity: number): void {
    if (this.oldMask >= 0) this.rehashStep(Number.POSITIVE_INFINITY);
    this.changes++;
    const old = this.slots;
    this.oldSlots = old;
    this.oldHashes = this.hashes;
    this.oldMask = this.mask;
    this.slots = new Uint32Array(capacity);
    this.hashes = new Uint32Array(capacity);
    this.mask = capacity - 1;
    // The walk starts at an empty slot (there is one: the load is at most one half).
    let start = 0;
    while (old[start] !== 0) start++;
    this.rehashAt = start;
    this.rehashWalked = 0;
    if (this.count === 0) this.endResize();
  }

  /**
   * Walks up to `budget` slots of the old table (finishing any cluster it starts): an empty slot
   * is stepped over, a cluster is moved whole into the new table. Ends the resize when the walk
   * has come round. Spends every probe (positions move).
   */
  private rehashStep(budget: number): void {
    this.changes++;
    const old = this.oldSlots;
    const oldHashes = this.oldHashes;
    const oldMask = this.oldMask;
    const capacity = oldMask + 1;
    const slots = this.slots;
    const hashes = this.hashes;
    const mask = this.mask;
    let at = this.rehashAt;
    let walked = this.rehashWalked;
    while (budget > 0 && walked < capacity) {
      // Either an empty slot, or the start of a cluster, which moves whole (up to the next empty slot).
      do {
        const slot = old[at] as number;
        if (slot !== 0) {
          const hash = oldHashes[at] as number;
          let i = hash & mask;
          while (slots[i] !== 0) i = (i + 1) & mask;
          slots[i] = slot;
          hashes[i] = hash;
          old[at] = 0;
        }
        at = (at + 1) & oldMask;
        walked++;
        budget--;
      } while (old[at] !== 0 && walked < capacity);
    }
    this.rehashAt = at;
    this.rehashWalked = walked;
    if (walked >= capacity) this.endResize();
  }

  private endResize(): void {
    this.oldSlots = new Uint32Array(0);
    this.oldHashes = new Uint32Array(0);
    this.oldMask = -1;
    this.changes++;
  }

  private allocate(size: number): RecordAddress {
    if (size >= LARGE_RECORD) {
      const id = this.slabId();
      this.slabs[id] = newSlab(new ArrayBuffer(size));
      this.slabTop[id] = DEDICATED;
      this.slabLive[id] = size;
      this.reservedBytes += size;
      return (id * 2 ** OFFSET_BITS) as RecordAddress;
    }
    const free = this.freeRecords.get(size);
    while (free !== undefined && free.length > 0) {
      // Entries of a slab given back or being emptied since are stale: its generation moved on.
      const entry = free.pop() as number;
      const address = (entry % 2 ** 32) as RecordAddress;
      const id = address >>> OFFSET_BITS;
      if ((this.slabGen[id] ?? 0) !== (entry - address) / 2 ** 32) continue;
      this.freeBytes -= size;
      this.addLive(id, size);
      return address;
    }
    if (this.top + size > SLAB_BYTES) {
      // The rest of the current slab is left unused (at most one record's worth).
      this.current = this.slabId();
      this.slabs[this.current] = newSlab(this.prefaulter?.take() ?? new ArrayBuffer(SLAB_BYTES));
      this.slabLive[this.current] = 0;
      this.reservedBytes += SLAB_BYTES;
      this.top = 0;
    }
    const address = (this.current * 2 ** OFFSET_BITS + (this.top >>> UNIT_SHIFT)) as RecordAddress;
    this.top += size;
    this.slabTop[this.current] = this.top;
    this.addLive(this.current, size);
    return address;
  }

  private release(address: RecordAddress): void {
    const size = this.classBytes(address);
    const id = address >>> OFFSET_BITS;
    if (size >= LARGE_RECORD) {
      this.dropSlab(id, size);
      return;
    }
    const slab = this.slabOf(address);
    const i = this.offsetOf(address) >>> 2;
    slab.u32[i + KEY_BYTES] = FREE;
    slab.u32[i + VALUE_BYTES] = size;
    this.addLive(id, -size);
    if (id === this.evacuating) return; // that slab is on its way out: no reuse
    let free = this.freeRecords.get(size);
    if (free === undefined) {
      free = [];
      this.freeRecords.set(size, free);
    }
    free.push((this.slabGen[id] ?? 0) * 2 ** 32 + address);
    this.freeBytes += size;
  }

  private addLive(id: number, bytes: number): void {
    this.slabLive[id] = (this.slabLive[id] ?? 0) + bytes;
  }

  /** Makes the free records of slab `id` stale (never handed out again) and stops counting them. */
  private retireFree(id: number): void {
    this.slabGen[id] = (this.slabGen[id] ?? 0) + 1;
    const top = this.slabTop[id] as number;
    if (top !== DEDICATED) this.freeBytes -= top - (this.slabLive[id] as number);
  }

  private dropSlab(id: number, size: number): void {
    this.slabGen[id] = (this.slabGen[id] ?? 0) + 1;
    this.slabs[id] = undefined;
    this.slabLive[id] = 0;
    this.slabTop[id] = 0;
    this.freeSlabIds.push(id);
    this.reservedBytes -= size;
  }

  /**
   * Gives memory back, a bounded step at a time (run it often: the sweeper does, every 100 ms):
   * slabs no live record is in are given back; and while free records are over a quarter of the
   * memory held (and over two slabs' worth), the live records of the emptiest slab are moved to
   * other slabs, at most MAINTAIN_STEP_BYTES of them per call, until it can be given back too.
   * An index far emptier than it needs to be is halved. Returns the bytes given back.
   *
   * `evacuate: false` pauses the moving of records (a pinned snapshot reads records by their
   * addresses; records out of the index must not be walked either); `moved` is told the new
   * address of every record moved.
   */
  maintain(options: MaintainOptions = {}): number {
    const evacuate = options.evacuate ?? true;
    if (this.oldMask >= 0) this.rehashStep(MAINTAIN_REHASH_SLOTS);
    else {
      let capacity = this.slots.length;
      while (capacity > INITIAL_INDEX_SLOTS && this.count < capacity * MAX_LOAD * 0.25) capacity /= 2;
      if (capacity < this.slots.length) this.resize(capacity);
    }
    let released = 0;
    if (this.evacuating !== -1) {
      if (!evacuate || !this.evacuateStep(options.moved, options.overdue)) return 0;
      const id = this.evacuating;
      this.evacuating = -1;
      this.dropSlab(id, SLAB_BYTES);
      released += SLAB_BYTES;
    }
    let victim = -1;
    let victimLive = SLAB_BYTES / 2; // only slabs at most half full are worth moving
    for (let id = 0; id < this.slabs.length; id++) {
      if (this.slabs[id] === undefined || id === this.current || this.slabTop[id] === DEDICATED) continue;
      const live = this.slabLive[id] as number;
      if (live === 0) {
        this.retireFree(id);
        this.dropSlab(id, SLAB_BYTES);
        released += SLAB_BYTES;
      } else if (live <= victimLive) {
        victim = id;
        victimLive = live;
      }
    }
    if (evacuate && victim !== -1 && this.freeBytes > Math.max(2 * SLAB_BYTES, this.reservedBytes / 4)) {
      this.retireFree(victim);
      this.evacuating = victim;
      this.evacuateAt = 0;
    }
    return released;
  }

  /**
   * Moves live records out of the slab being emptied, up to MAINTAIN_STEP_BYTES or until `overdue`
   * says so; true when it is empty.
   */
  private evacuateStep(
    onMoved: ((address: RecordAddress, from: RecordAddress) => void) | undefined,
    overdue: (() => boolean) | undefined,
  ): boolean {
    const id = this.evacuating;
    const slab = this.slabs[id] as Slab;
    const end = this.slabTop[id] as number;
    this.changes++; // the scratch buffer is reused below: any probe is spent
    let moved = 0;
    let records = 0;
    let at = this.evacuateAt;
    while (at < end && moved < MAINTAIN_STEP_BYTES) {
      const i = at >>> 2;
      const keyBytes = slab.u32[i + KEY_BYTES] as number;
      if (keyBytes === FREE) {
        at += slab.u32[i + VALUE_BYTES] as number;
        continue;
      }
      if ((++records & EVACUATE_CLOCK_MASK) === 0 && overdue?.() === true) break;
      const valueBytes = slab.u32[i + VALUE_BYTES] as number;
      const used = RECORD_HEADER_BYTES + keyBytes + valueBytes;
      const size = recordClassBytes(used);
      const old = id * 2 ** OFFSET_BITS + (at >>> UNIT_SHIFT);
      const address = this.allocate(size);
      slab.bytes.copy(this.slabOf(address).bytes, this.offsetOf(address), at, at + used);
      // Find the record's index slot: hash its key, then probe for its address.
      if (keyBytes > this.scratch.length) this.scratch = Buffer.alloc(keyBytes);
      slab.bytes.copy(this.scratch, 0, at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + keyBytes);
      const hash = halfSipHash(this.hashKey, this.scratch, keyBytes);
      const p = this.findByHash(hash, (a) => a === old);
      if (p >= OLD_TABLE) this.oldSlots[p - OLD_TABLE] = address + 1;
      else this.slots[p] = address + 1;
      onMoved?.(address, old as RecordAddress);
      // The old place is left as a free record, so the walk can step over it if it resumes here.
      slab.u32[i + KEY_BYTES] = FREE;
      slab.u32[i + VALUE_BYTES] = size;
      this.addLive(id, -size);
      at += size;
      moved += size;
    }
    this.evacuateAt = at;
    return at >= end;
  }

  private slabId(): number {
    const reused = this.freeSlabIds.pop();
    if (reused !== undefined) return reused;
    if (this.slabs.length >= MAX_SLABS) throw new RangeError('the record table is full (32 GiB)');
    this.slabs.push(undefined);
    return this.slabs.length - 1;
  }
}

/**
 * Empties slot `hole` of a linear-probing table (`slots`, `hashes`, `mask`) by backward shift:
 * each later entry of the cluster that may move into the hole does, so no probe sequence is
 * broken and no tombstone is left. Entries move only within their cluster.
 */
function shiftDelete(slots: Uint32Array, hashes: Uint32Array, mask: number, position: number): void {
  let hole = position;
  slots[hole] = 0;
  for (let j = (hole + 1) & mask; slots[j] !== 0; j = (j + 1) & mask) {
    const home = (hashes[j] as number) & mask;
    // Entry j may move into the hole unless its home lies cyclically in (hole, j].
    const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
    if (stays) continue;
    slots[hole] = slots[j] as number;
    hashes[hole] = hashes[j] as number;
    slots[j] = 0;
    hole = j;
  }
}
