import type { KeyRange } from '../store.js';
import type { RecordAddress, RecordTable } from './record-table.js';

/*
 * The ordered index: every key the record table holds, in UTF-8 byte order, beside the hash
 * index. The hash index answers "where is this key"; this one answers "which keys come next",
 * for listings.
 *
 * Off the JavaScript heap. The index holds no key of its own: it is a sorted sequence of record
 * addresses, and a key is compared in place, as the bytes of its record (RecordTable.keySlab),
 * which are already UTF-8 and so already in the order listings need. The sequence is cut into
 * pages of at most PAGE_SLOTS addresses (a Uint32Array each, 2 KiB), and the pages are kept in
 * order in one array. A million keys are about 2,600 pages: a few MiB outside the heap and a few
 * thousand small objects on it, where a B+ tree of strings (sorted-btree, before) held 55 MiB of
 * heap that every full collection marked.
 *
 * Finding a key: a binary search over the pages by each page's first key, then one within the
 * page. A page keeps the first FENCE_BYTES bytes of its first key (its fence, copied whenever its
 * first slot changes, so it never goes stale: a record that moves keeps its key), and the search
 * over pages compares with those, reading the first record only for a key that agrees with all
 * of them; the search within a page compares in the records. Removing or moving a record whose
 * address is known finds its slot by that address instead (`locate`).
 *
 * Adding shifts the rest of its page (at most 2 KiB); a full page splits in two; a page left
 * empty is dropped, and one under a quarter full is merged with its right neighbour when the two
 * fit in half a page. A key past the last one skips the search and is appended, and keys added in
 * order fill their pages (a snapshot loads that way, in order); a key that falls in the last page
 * (nearly in order: concurrent writers of a counter, a log replayed) is searched for there only.
 *
 * Snapshots. `freeze()` is O(1): the frozen view keeps the page array and the pages as they are,
 * and the live index copies a page before its first write after the freeze (copy-on-write, by
 * page: `epoch` tells the pages the live index may write in place from those a frozen view may
 * share), and the page array before its first change. A frozen view is never written. Its
 * addresses stay valid as long as the records they point to are neither rewritten in place nor
 * freed, which the engine guarantees while a snapshot is pinned (see snapshot-pins.ts), and it
 * reads their keys from those records, which are kept as they were.
 */

/** Addresses a page holds at most; a full page splits into two halves. */
const PAGE_SLOTS = 512;
const HALF = PAGE_SLOTS / 2;
/** Bytes of a page's first key kept in the page (its fence), for the search over pages. */
const FENCE_BYTES = 32;

interface Page {
  readonly addresses: Uint32Array;
  count: number;
  /** The live index's epoch when this page was made: writable in place only in that epoch. */
  readonly epoch: number;
  /**
   * The first FENCE_BYTES bytes of the page's first key, and that key's length: the search over
   * pages compares a key with these, in the page, and reads the record only when the two agree
   * on all FENCE_BYTES (a key that long). Set whenever the first slot changes (setFence).
   */
  readonly fence: Uint8Array;
  fenceKeyBytes: number;
}

function newPage(epoch: number): Page {
  return { addresses: new Uint32Array(PAGE_SLOTS), count: 0, epoch, fence: new Uint8Array(FENCE_BYTES), fenceKeyBytes: 0 };
}

/** Copies the first bytes of the key in `page`'s first slot into its fence. */
function setFence(table: RecordTable, page: Page): void {
  if (page.count === 0) return;
  const address = page.addresses[0] as RecordAddress;
  const bytes = table.keySlab(address);
  const start = table.keyStart(address);
  const n = table.keyBytes(address);
  const m = Math.min(n, FENCE_BYTES);
  const fence = page.fence;
  for (let i = 0; i < m; i++) fence[i] = bytes[start + i] as number;
  page.fenceKeyBytes = n;
}

/** compareKey of `page`'s first key, read from the fence where it can be (see Page.fence). */
function compareFirst(table: RecordTable, page: Page, key: Uint8Array, length: number, from: number): number {
  const n = page.fenceKeyBytes;
  const fence = page.fence;
  const m = Math.min(n, length, FENCE_BYTES);
  for (let i = 0; i < m; i++) {
    const d = (fence[i] as number) - (key[from + i] as number);
    if (d !== 0) return d;
  }
  // Equal so far: the fence holds the whole first key, or the key ends within the fence.
  if (n <= FENCE_BYTES || length <= FENCE_BYTES) return n - length;
  return compareKey(table, page.addresses[0] as RecordAddress, key, length, from);
}

/** Compares the key of the record at `address` with `key[from..from+length)`, in byte order: < 0, 0 or > 0. */
function compareKey(table: RecordTable, address: RecordAddress, key: Uint8Array, length: number, from = 0): number {
  const bytes = table.keySlab(address);
  const start = table.keyStart(address);
  const n = table.keyBytes(address);
  const m = Math.min(n, length);
  if (m > 64) {
    const c = bytes.compare(key, from, from + m, start, start + m);
    return c !== 0 ? c : n - length;
  }
  for (let i = 0; i < m; i++) {
    const d = (bytes[start + i] as number) - (key[from + i] as number);
    if (d !== 0) return d;
  }
  return n - length;
}

/** True when the key of the record at `address` starts with `prefix`. */
function keyStartsWith(table: RecordTable, address: RecordAddress, prefix: Uint8Array): boolean {
  if (table.keyBytes(address) < prefix.length) return false;
  const bytes = table.keySlab(address);
  const start = table.keyStart(address);
  for (let i = 0; i < prefix.length; i++) if (bytes[start + i] !== prefix[i]) return false;
  return true;
}

/** The least byte string greater than every string that starts with `bytes`, or undefined when there is none. */
function successor(bytes: Uint8Array): Uint8Array | undefined {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0xff) end--;
  if (end === 0) return undefined;
  const next = new Uint8Array(end); // a copy (Buffer's slice would share the bytes)
  next.set(bytes.subarray(0, end));
  next[end - 1] = (next[end - 1] as number) + 1;
  return next;
}

const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');

/**
 * Sets `at` to where `key[from..from+length)` is or would go in `pages`: the last page whose first
 * key is at or below it (page 0 when none is), and the first slot there whose key is not below it
 * (the page's count when every key is).
 */
function findPosition(table: RecordTable, pages: readonly Page[], key: Uint8Array, length: number, at: Position, from = 0): void {
  const p = pageOf(table, pages, key, length, from);
  at.page = p;
  at.slot = slotIn(table, pages[p] as Page, key, length, from);
}

/** The page a key belongs in, as findPosition finds it: the last whose first key is at or below it (page 0 when none is). */
function pageOf(table: RecordTable, pages: readonly Page[], key: Uint8Array, length: number, from: number): number {
  let lo = 0;
  let hi = pages.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (compareFirst(table, pages[mid] as Page, key, length, from) <= 0) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The first slot of `page` whose key is not below `key[from..from+length)` (the page's count when every key is). */
function slotIn(table: RecordTable, page: Page, key: Uint8Array, length: number, from: number): number {
  let a = 0;
  let b = page.count;
  while (a < b) {
    const mid = (a + b) >>> 1;
    if (compareKey(table, page.addresses[mid] as RecordAddress, key, length, from) < 0) a = mid + 1;
    else b = mid;
  }
  return a;
}

/**
 * A view of the ordered index: the live one (valid until the index next changes: read it in the
 * same tick) or a frozen snapshot (never changes). Positions are (page, slot) pairs.
 */
export class OrderTree {
  constructor(
    readonly table: RecordTable,
    private readonly pages: readonly Page[],
    /** Keys in the view. */
    readonly size: number,
  ) {}

  /** The first position whose key is at least `key[0..length)` (past the end when none is). */
  seek(key: Uint8Array, length: number, at: Position): void {
    findPosition(this.table, this.pages, key, length, at);
    this.settle(at);
  }

  /** The first position. */
  first(at: Position): void {
    at.page = 0;
    at.slot = 0;
    this.settle(at);
  }

  /** The last position (before the first when the view is empty). */
  last(at: Position): void {
    at.page = this.pages.length - 1;
    at.slot = (this.pages[at.page] as Page).count - 1;
    if (at.slot < 0) at.page = -1;
  }

  /** True when `at` is a key of the view. */
  valid(at: Position): boolean {
    return at.page >= 0 && at.page < this.pages.length && at.slot >= 0 && at.slot < (this.pages[at.page] as Page).count;
  }

  address(at: Position): RecordAddress {
    return (this.pages[at.page] as Page).addresses[at.slot] as RecordAddress;
  }

  next(at: Position): void {
    at.slot++;
    this.settle(at);
  }

  previous(at: Position): void {
    at.slot--;
    while (at.slot < 0) {
      at.page--;
      if (at.page < 0) return;
      at.slot = (this.pages[at.page] as Page).count - 1;
    }
  }

  /** Moves a position at the end of its page to the start of the next non-empty one. */
  private settle(at: Position): void {
    while (at.page < this.pages.length && at.slot >= (this.pages[at.page] as Page).count) {
      at.page++;
      at.slot = 0;
    }
  }
}

/** A place in an OrderTree: a page and a slot in it. */
export interface Position {
  page: number;
  slot: number;
}

const newPosition = (): Position => ({ page: 0, slot: 0 });

/** The live ordered index of a record table. */
export class OrderedIndex {
  private pages: Page[];
  private count = 0;
  /** Bumped by each freeze: pages of an earlier epoch may be shared with a frozen view. */
  private epoch = 0;
  /** The page array is shared with the latest frozen view: copy it before changing it. */
  private pagesShared = false;
  private readonly at = newPosition();

  constructor(private readonly table: RecordTable) {
    this.pages = [newPage(0)];
  }

  get size(): number {
    return this.count;
  }

  /** The live index, for reading in the same tick (a listing's first page). */
  get live(): OrderTree {
    return new OrderTree(this.table, this.pages, this.count);
  }

  /**
   * Adds the key of the record at `address`, which is not in the index yet: compared as its record
   * holds it, with no copy made. A key past the last one (a snapshot loaded in order, keys made
   * from a counter or a time) is appended: one comparison, and the last page is filled before a
   * new one begins instead of being split in half.
   */
  add(address: RecordAddress): void {
    const table = this.table;
    const key = table.keySlab(address);
    const from = table.keyStart(address);
    const length = table.keyBytes(address);
    if (this.appends(key, length, from)) {
      let p = this.pages.length - 1;
      if ((this.pages[p] as Page).count === PAGE_SLOTS) {
        this.writablePages().push(newPage(this.epoch));
        p++;
      }
      const page = this.writable(p);
      page.addresses[page.count++] = address;
      if (page.count === 1) setFence(table, page);
      this.count++;
      return;
    }
    // A key just below the last one (concurrent writers of a counter or a time; a log replayed
    // after a crash, whose writers' keys interleave) belongs in the last page: one comparison
    // with that page's fence instead of the search over every page.
    const lastPage = this.pages.length - 1;
    if (lastPage > 0 && compareFirst(table, this.pages[lastPage] as Page, key, length, from) <= 0) {
      this.at.page = lastPage;
      this.at.slot = slotIn(table, this.pages[lastPage] as Page, key, length, from);
    } else findPosition(table, this.pages, key, length, this.at, from);
    const p = this.at.page;
    let page = this.writable(p);
    let slot = this.at.slot;
    if (page.count === PAGE_SLOTS) {
      const right = newPage(this.epoch);
      right.addresses.set(page.addresses.subarray(HALF, PAGE_SLOTS));
      right.count = PAGE_SLOTS - HALF;
      setFence(table, right);
      page.count = HALF;
      this.writablePages().splice(p + 1, 0, right);
      if (slot > HALF) {
        page = right;
        slot -= HALF;
      }
    }
    page.addresses.copyWithin(slot + 1, slot, page.count);
    page.addresses[slot] = address;
    page.count++;
    if (slot === 0) setFence(table, page);
    this.count++;
  }

  /**
   * Points a key already in the index at its record's new address: the record at `address` is
   * a copy of the one at `from`, which the index holds (found as `locate` finds it).
   */
  move(address: RecordAddress, from: RecordAddress): void {
    if (this.locate(address, from)) this.writable(this.at.page).addresses[this.at.slot] = address;
  }

  /** Takes the record at `address` out of the index; the record must still hold its key. */
  remove(address: RecordAddress): void {
    if (!this.locate(address, address)) return;
    const p = this.at.page;
    const slot = this.at.slot;
    const page = this.writable(p);
    page.addresses.copyWithin(slot, slot + 1, page.count);
    page.count--;
    if (slot === 0) setFence(this.table, page);
    this.count--;
    const pages = this.pages;
    if (page.count === 0 && pages.length > 1) this.writablePages().splice(p, 1);
    else if (page.count < PAGE_SLOTS / 4 && p + 1 < pages.length && page.count + (pages[p + 1] as Page).count <= HALF) {
      const right = pages[p + 1] as Page;
      page.addresses.set(right.addresses.subarray(0, right.count), page.count);
      page.count += right.count;
      this.writablePages().splice(p + 1, 1);
    }
  }

  /** The keys that start with `prefix`, in order (O(log n + found)). */
  keysWithPrefix(prefix: string): string[] {
    const bytes = utf8(prefix);
    const tree = this.live;
    const at = newPosition();
    tree.seek(bytes, bytes.length, at);
    const keys: string[] = [];
    for (; tree.valid(at); tree.next(at)) {
      const address = tree.address(at);
      if (!keyStartsWith(this.table, address, bytes)) break;
      keys.push(this.table.key(address));
    }
    return keys;
  }

  /** A frozen copy of the index as it is now, in O(1) (copy-on-write by page). */
  freeze(): OrderTree {
    const frozen = new OrderTree(this.table, this.pages, this.count);
    this.epoch++;
    this.pagesShared = true;
    return frozen;
  }

  /**
   * Finds the slot that holds `held`, in the page of the key the record at `keyOf` holds (the
   * same record, or a copy of it); false if the index does not hold it. The page is found by the
   * key, as a search finds it (the pages' fences), and the slot there by the address: a scan of
   * at most PAGE_SLOTS numbers instead of a search that reads a record at each step (records far
   * apart in memory: a cache miss each, when keys are deleted in no order). A slot past the
   * page's count may hold a stale copy of an address, never one before it.
   */
  private locate(keyOf: RecordAddress, held: RecordAddress): boolean {
    const table = this.table;
    const p = pageOf(table, this.pages, table.keySlab(keyOf), table.keyBytes(keyOf), table.keyStart(keyOf));
    const page = this.pages[p] as Page;
    const slot = page.addresses.indexOf(held);
    if (slot === -1 || slot >= page.count) return false;
    this.at.page = p;
    this.at.slot = slot;
    return true;
  }

  /** True when `key[from..from+length)` sorts after every key in the index (and there is one). */
  private appends(key: Uint8Array, length: number, from: number): boolean {
    const last = this.pages[this.pages.length - 1] as Page;
    return last.count > 0 && compareKey(this.table, last.addresses[last.count - 1] as RecordAddress, key, length, from) < 0;
  }

  /** Page `p`, copied first if a frozen view may share it. */
  private writable(p: number): Page {
    const page = this.pages[p] as Page;
    if (page.epoch === this.epoch) return page;
    const copy: Page = {
      addresses: page.addresses.slice(),
      count: page.count,
      epoch: this.epoch,
      fence: page.fence.slice(),
      fenceKeyBytes: page.fenceKeyBytes,
    };
    this.writablePages()[p] = copy;
    return copy;
  }

  /** The page array, copied first if a frozen view shares it. */
  private writablePages(): Page[] {
    if (this.pagesShared) {
      this.pages = this.pages.slice();
      this.pagesShared = false;
    }
    return this.pages;
  }
}

/** What a scan of a tree found for one page. */
export interface ScanResult {
  /** The record addresses of the page's keys, in the scan's order (a key is read from its record when needed). */
  readonly addresses: RecordAddress[];
  /** Rolled-up prefixes, in the scan's order. */
  readonly prefixes: string[];
  /** The last key or prefix of the page, when there is a next page; else undefined. */
  readonly resumeAfter: string | undefined;
}

/** How to scan: the range, the order, the page size, the roll-up delimiter. */
export interface ScanOptions {
  readonly limit: number;
  readonly reverse: boolean;
  readonly delimiter?: string | undefined;
}

/** A range in UTF-8: keys starting with `prefix`, from `low` (inclusive) to `high` (exclusive). */
interface ByteRange {
  readonly prefix: Buffer;
  readonly low: Uint8Array;
  readonly high: Uint8Array | undefined;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

function byteRange(range: KeyRange): ByteRange {
  const prefix = utf8(range.prefix);
  const start = range.start === undefined ? undefined : utf8(range.start);
  let high: Uint8Array | undefined = range.end === undefined ? undefined : utf8(range.end);
  const past = successor(prefix);
  if (past !== undefined && (high === undefined || compareBytes(past, high) < 0)) high = past;
  return { prefix, low: start !== undefined && compareBytes(start, prefix) > 0 ? start : prefix, high };
}

function inRange(table: RecordTable, r: ByteRange, address: RecordAddress): boolean {
  return (
    compareKey(table, address, r.low, r.low.length) >= 0 &&
    (r.high === undefined || compareKey(table, address, r.high, r.high.length) < 0) &&
    keyStartsWith(table, address, r.prefix)
  );
}

/** Where the delimiter first occurs in the key of the record at `address` at or after byte `from`, or -1. */
function delimiterAt(table: RecordTable, address: RecordAddress, delimiter: Buffer, from: number): number {
  const start = table.keyStart(address);
  const key = table.keySlab(address).subarray(start, start + table.keyBytes(address));
  return key.indexOf(delimiter, from);
}

/**
 * One page of `range` in `tree`, after `after` (a key or rolled-up prefix the previous page
 * ended on) or from the range's start. O(log n + page): one seek, then a walk along the pages;
 * each rolled-up prefix is skipped with one more seek, not key by key.
 */
export function scanPage(tree: OrderTree, range: KeyRange, options: ScanOptions, after: string | undefined): ScanResult {
  const table = tree.table;
  const r = byteRange(range);
  const delimiter = options.delimiter === undefined ? undefined : utf8(options.delimiter);
  const addresses: RecordAddress[] = [];
  const prefixes: string[] = [];
  const at = newPosition();
  let taken = 0;
  // Where the page ends: its last key's record (its key is decoded only if a page follows), or its last rolled-up prefix.
  let lastAddress: RecordAddress | undefined;
  let lastPrefix: string | undefined;
  if (options.reverse) {
    // Below the range's end, or below `after` (every key under a rolled-up prefix is at or above it).
    let below = r.high;
    if (after !== undefined) {
      const bytes = utf8(after);
      if (below === undefined || compareBytes(bytes, below) < 0) below = bytes;
    }
    if (below === undefined) tree.last(at);
    else {
      tree.seek(below, below.length, at);
      tree.previous(at);
    }
  } else {
    let from: Uint8Array = r.low;
    let exclusive = false;
    if (after !== undefined) {
      const bytes = utf8(after);
      const rolled = delimiter !== undefined && bytes.indexOf(delimiter, r.prefix.length) !== -1;
      const past = rolled ? successor(bytes) : bytes;
      if (past === undefined) return { addresses, prefixes, resumeAfter: undefined };
      if (compareBytes(past, from) >= 0) {
        from = past;
        exclusive = !rolled;
      }
    }
    tree.seek(from, from.length, at);
    if (exclusive && tree.valid(at) && compareKey(table, tree.address(at), from, from.length) === 0) tree.next(at);
  }
  // The walk starts inside the range's far bound (at or above its low key going forward, below its
  // high key going backward) and only moves away from it: only the bound it walks towards is
  // checked. Between the two a key starts with the prefix (high is at most the prefix's successor).
  const low = r.low;
  const high = r.high;
  while (tree.valid(at)) {
    const address = tree.address(at);
    if (
      options.reverse
        ? compareKey(table, address, low, low.length) < 0
        : high !== undefined && compareKey(table, address, high, high.length) >= 0
    ) {
      break;
    }
    if (taken === options.limit) {
      return { addresses, prefixes, resumeAfter: lastAddress === undefined ? lastPrefix : table.key(lastAddress) };
    }
    taken++;
    const cut = delimiter === undefined ? -1 : delimiterAt(table, address, delimiter, r.prefix.length);
    if (cut === -1) {
      addresses.push(address);
      lastAddress = address;
      if (options.reverse) tree.previous(at);
      else tree.next(at);
      continue;
    }
    const start = table.keyStart(address);
    const rolledBytes = Buffer.from(table.keySlab(address).subarray(start, start + cut + (delimiter as Buffer).length));
    const rolled = rolledBytes.toString('utf8');
    prefixes.push(rolled);
    lastPrefix = rolled;
    lastAddress = undefined;
    // Every key under the rolled-up prefix is skipped: forward past all of them, backward below them.
    if (options.reverse) {
      tree.seek(rolledBytes, rolledBytes.length, at);
      tree.previous(at);
    } else {
      const past = successor(rolledBytes);
      if (past === undefined) break;
      tree.seek(past, past.length, at);
    }
  }
  return { addresses, prefixes, resumeAfter: undefined };
}

/** Counts the keys of `range` in `tree`: O(log n + keys in the range), O(1) for the whole store. */
export function countRange(tree: OrderTree, range: KeyRange): number {
  if (range.prefix === '' && range.start === undefined && range.end === undefined) return tree.size;
  const r = byteRange(range);
  const at = newPosition();
  let n = 0;
  for (tree.seek(r.low, r.low.length, at); tree.valid(at); tree.next(at)) {
    if (!inRange(tree.table, r, tree.address(at))) break;
    n++;
  }
  return n;
}

/** Every key and record address of a tree, in order. */
/** The record addresses of `tree`, in key order (its keys not read). */
export function* treeAddresses(tree: OrderTree): Generator<RecordAddress> {
  const at = newPosition();
  for (tree.first(at); tree.valid(at); tree.next(at)) yield tree.address(at);
}

export function* treeWalk(tree: OrderTree): Generator<[string, RecordAddress]> {
  for (const address of treeAddresses(tree)) yield [tree.table.key(address), address];
}
