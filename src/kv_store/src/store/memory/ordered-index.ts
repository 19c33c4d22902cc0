import BTreeModule from 'sorted-btree';
import type { KeyRange } from '../store.js';
import type { RecordAddress } from './record-table.js';

/*
 * The ordered index: every key the record table holds, in UTF-8 byte order, in a B+ tree
 * (sorted-btree) beside the hash index, mapping the key to its record's address. The hash index
 * answers "where is this key"; this one answers "which keys come next", for listings.
 *
 * Order. JavaScript compares strings by UTF-16 code units, which is not UTF-8 byte order: a
 * character of the astral planes (a surrogate pair, units D800-DFFF) sorts before U+E000-U+FFFF
 * in UTF-16 and after them in UTF-8. The tree's keys are therefore *order keys*: the key with
 * every unit of D800-FFFF moved (D800-DFFF up to F800-FFFF, E000-FFFF down to D800-F7FF), a
 * bijection under which `<` on units is code point order, which is UTF-8 byte order. A key
 * without such units (nearly all) is its own order key; the test for that is one regex scan, so
 * the tree compares with the engine's fastest comparison, `<`.
 *
 * Snapshots. `freeze()` is sorted-btree's clone: O(1), the two trees share every node until
 * one of them writes, and a write copies only the path it changes (copy-on-write). A frozen
 * tree is never written. Its addresses stay valid as long as the records they point to are
 * neither rewritten in place nor freed, which the engine guarantees while a snapshot is pinned
 * (see snapshot-pins.ts).
 */

// sorted-btree is CommonJS with `exports.default`: Node's ESM loader hands over the exports
// object, bundlers and vitest the class itself.
const loaded: unknown = BTreeModule;
const BTree = (typeof loaded === 'function' ? loaded : (loaded as { default: unknown }).default) as typeof BTreeModule.default;
/** A tree of order keys to record addresses (the live index, or a frozen snapshot of it). */
export type OrderTree = InstanceType<typeof BTreeModule.default<string, RecordAddress>>;

/** Units that UTF-16 and UTF-8 order differently: surrogates and U+E000-U+FFFF. */
const HIGH_UNITS = /[\uD800-\uFFFF]/;
const HIGH_UNITS_ALL = /[\uD800-\uFFFF]/g;

function compareUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function toOrderUnit(unit: string): string {
  const c = unit.charCodeAt(0);
  return String.fromCharCode(c < 0xe000 ? c + 0x2000 : c - 0x800);
}

function fromOrderUnit(unit: string): string {
  const c = unit.charCodeAt(0);
  return String.fromCharCode(c >= 0xf800 ? c - 0x2000 : c + 0x800);
}

/** The order key of `key`: a string whose UTF-16 order is `key`'s UTF-8 byte order. */
export function orderKey(key: string): string {
  return HIGH_UNITS.test(key) ? key.replace(HIGH_UNITS_ALL, toOrderUnit) : key;
}

/** The key an order key stands for. */
export function plainKey(order: string): string {
  return HIGH_UNITS.test(order) ? order.replace(HIGH_UNITS_ALL, fromOrderUnit) : order;
}

/**
 * The least string greater than every string that starts with `order` (in units), or undefined
 * when there is none (`order` is empty or all U+FFFF units): where a scan resumes past a prefix.
 */
export function successor(order: string): string | undefined {
  let end = order.length;
  while (end > 0 && order.charCodeAt(end - 1) === 0xffff) end--;
  if (end === 0) return undefined;
  return order.slice(0, end - 1) + String.fromCharCode(order.charCodeAt(end - 1) + 1);
}

/** The live ordered index of a record table. */
export class OrderedIndex {
  private tree: OrderTree = new BTree<string, RecordAddress>(undefined, compareUnits);

  get size(): number {
    return this.tree.size;
  }

  /** The live tree, for reading in the same tick (a listing's first page). */
  get live(): OrderTree {
    return this.tree;
  }

  /** Adds a key that is not in the index. `key` is kept: pass a string of its own (not a slice of a request). */
  add(key: string, address: RecordAddress): void {
    this.tree.set(orderKey(key), address);
  }

  /** Points a key already in the index at its record's new address (the key string in the tree stays). */
  move(key: string, address: RecordAddress): void {
    this.tree.changeIfPresent(orderKey(key), address);
  }

  remove(key: string): void {
    this.tree.delete(orderKey(key));
  }

  /** The keys that start with `prefix`, in order (O(log n + found)). */
  keysWithPrefix(prefix: string): string[] {
    const low = orderKey(prefix);
    const high = successor(low);
    const keys: string[] = [];
    const collect = (order: string): void => {
      keys.push(plainKey(order));
    };
    if (high === undefined) this.tree.forRange(low, this.tree.maxKey() ?? low, true, collect);
    else this.tree.forRange(low, high, false, collect);
    return keys;
  }

  /** A frozen copy of the index as it is now, in O(1) (copy-on-write). */
  freeze(): OrderTree {
    return this.tree.clone();
  }
}

/** What a scan of a tree found for one page. */
export interface ScanResult {
  /** Keys (plain, not order keys) and their record addresses, in the scan's order. */
  readonly keys: string[];
  readonly addresses: RecordAddress[];
  /** Rolled-up prefixes (plain), in the scan's order. */
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

/** A range in order keys: keys starting with `prefix`, from `low` (inclusive) to `high` (exclusive). */
interface OrderRange {
  readonly prefix: string;
  readonly low: string;
  readonly high: string | undefined;
}

function orderRange(range: KeyRange): OrderRange {
  const prefix = orderKey(range.prefix);
  const start = range.start === undefined ? undefined : orderKey(range.start);
  let high = range.end === undefined ? undefined : orderKey(range.end);
  const past = successor(prefix);
  if (past !== undefined && (high === undefined || past < high)) high = past;
  return { prefix, low: start !== undefined && start > prefix ? start : prefix, high };
}

/**
 * One page of `range` in `tree`, after `after` (a plain key or rolled-up prefix the previous
 * page ended on) or from the range's start. O(log n + page): one seek, then a walk along the
 * leaves; each rolled-up prefix is skipped with one more seek, not key by key.
 */
export function scanPage(tree: OrderTree, range: KeyRange, options: ScanOptions, after: string | undefined): ScanResult {
  const r = orderRange(range);
  const delimiter = options.delimiter === undefined ? undefined : orderKey(options.delimiter);
  const keys: string[] = [];
  const addresses: RecordAddress[] = [];
  const prefixes: string[] = [];
  let taken = 0;
  let last: string | undefined;
  let walk = options.reverse ? reverseWalk(tree, r, after) : forwardWalk(tree, r, after, delimiter);
  for (;;) {
    const step = walk.next();
    if (step.done === true) break;
    const [key, address] = step.value;
    if (!inRange(r, key)) break;
    if (taken === options.limit) return { keys, addresses, prefixes, resumeAfter: plainKey(last as string) };
    taken++;
    const cut = delimiter === undefined ? -1 : key.indexOf(delimiter, r.prefix.length);
    if (cut === -1) {
      keys.push(plainKey(key));
      addresses.push(address);
      last = key;
      continue;
    }
    const rolled = key.slice(0, cut + (delimiter as string).length);
    prefixes.push(plainKey(rolled));
    last = rolled;
    // Every key under the rolled-up prefix is skipped: forward past all of them, backward below them.
    if (options.reverse) walk = tree.entriesReversed(rolled, [], true);
    else {
      const past = successor(rolled);
      if (past === undefined) break;
      walk = tree.entries(past, []);
    }
  }
  return { keys, addresses, prefixes, resumeAfter: undefined };
}

function inRange(r: OrderRange, key: string): boolean {
  return key >= r.low && (r.high === undefined || key < r.high) && key.startsWith(r.prefix);
}

const NOTHING: IterableIterator<[string, RecordAddress]> = [][Symbol.iterator]();

/** The range's keys upward, from its start or past `after` (a key, or a rolled-up prefix and all under it). */
function forwardWalk(
  tree: OrderTree,
  r: OrderRange,
  after: string | undefined,
  delimiter: string | undefined,
): IterableIterator<[string, RecordAddress]> {
  let from = r.low;
  if (after !== undefined) {
    const last = orderKey(after);
    const rolled = delimiter !== undefined && last.indexOf(delimiter, r.prefix.length) !== -1;
    const past = rolled ? successor(last) : `${last}\u0000`;
    if (past === undefined) return NOTHING;
    if (past > from) from = past;
  }
  return tree.entries(from, []);
}

/** The range's keys downward, from its end or below `after` (every key under a rolled-up prefix is at or above it). */
function reverseWalk(tree: OrderTree, r: OrderRange, after: string | undefined): IterableIterator<[string, RecordAddress]> {
  let below = r.high;
  if (after !== undefined) {
    const last = orderKey(after);
    if (below === undefined || last < below) below = last;
  }
  return below === undefined ? tree.entriesReversed(undefined, []) : tree.entriesReversed(below, [], true);
}

/** Counts the keys of `range` in `tree`: O(log n + keys in the range), O(1) for the whole store. */
export function countRange(tree: OrderTree, range: KeyRange): number {
  if (range.prefix === '' && range.start === undefined && range.end === undefined) return tree.size;
  const r = orderRange(range);
  let n = 0;
  for (const [key] of tree.entries(r.low, [])) {
    if ((r.high !== undefined && key >= r.high) || !key.startsWith(r.prefix)) break;
    n++;
  }
  return n;
}
