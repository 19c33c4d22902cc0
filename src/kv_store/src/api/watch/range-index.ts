import { inKeyRange, type KeyRange } from '../../store/store.js';

/*
 * Finds the watchers a changed key concerns without looking at every watcher: one-key watches
 * by the key (a map), prefix watches by each prefix of the key that some watcher watches (a map
 * per distinct prefix, looked up once per distinct prefix length), and the few watches with a
 * start or end by a walk over them. A change costs O(distinct prefix lengths + ranged watchers
 * + matches), whatever the number of watchers.
 */

/** What a watcher watches: one key, or a range. */
export type WatchTarget = { readonly key: string } | { readonly range: KeyRange };

export class RangeIndex<T> {
  private readonly byKey = new Map<string, Set<T>>();
  private readonly byPrefix = new Map<string, Set<T>>();
  /** Prefix length -> how many distinct prefixes of that length are watched. */
  private readonly prefixLengths = new Map<number, number>();
  private lengths: number[] = [];
  private readonly ranged = new Map<T, KeyRange>();

  add(item: T, target: WatchTarget): void {
    if ('key' in target) addTo(this.byKey, target.key, item);
    else if (target.range.start === undefined && target.range.end === undefined) {
      const prefix = target.range.prefix;
      if (!this.byPrefix.has(prefix)) this.countLength(prefix.length, 1);
      addTo(this.byPrefix, prefix, item);
    } else this.ranged.set(item, target.range);
  }

  remove(item: T, target: WatchTarget): void {
    if ('key' in target) removeFrom(this.byKey, target.key, item);
    else if (target.range.start === undefined && target.range.end === undefined) {
      const prefix = target.range.prefix;
      if (removeFrom(this.byPrefix, prefix, item)) this.countLength(prefix.length, -1);
    } else this.ranged.delete(item);
  }

  /** Calls `visit` with every item watching `key`, once each. */
  forEachMatch(key: string, visit: (item: T) => void): void {
    const exact = this.byKey.get(key);
    if (exact !== undefined) for (const item of exact) visit(item);
    for (const length of this.lengths) {
      if (length > key.length) break;
      const set = this.byPrefix.get(length === key.length ? key : key.slice(0, length));
      if (set !== undefined) for (const item of set) visit(item);
    }
    for (const [item, range] of this.ranged) if (inKeyRange(range, key)) visit(item);
  }

  private countLength(length: number, delta: number): void {
    const n = (this.prefixLengths.get(length) ?? 0) + delta;
    if (n === 0) this.prefixLengths.delete(length);
    else this.prefixLengths.set(length, n);
    this.lengths = [...this.prefixLengths.keys()].sort((a, b) => a - b);
  }
}

function addTo<T>(map: Map<string, Set<T>>, key: string, item: T): void {
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  set.add(item);
}

/** Removes `item`; true when that emptied the key's set (and so removed the key). */
function removeFrom<T>(map: Map<string, Set<T>>, key: string, item: T): boolean {
  const set = map.get(key);
  if (set === undefined || !set.delete(item)) return false;
  if (set.size > 0) return false;
  map.delete(key);
  return true;
}
