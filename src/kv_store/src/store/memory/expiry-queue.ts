/*
 * The expiry queue: a binary min-heap of (expiresAt, key hash) items, so the entries whose time
 * has passed are found without scanning the store, with nothing per entry on the JavaScript heap.
 *
 * Layout. Items live in pages of PAGE_ITEMS: a Float64Array of times and a Uint32Array of the
 * keys' HalfSipHash values (the record table's own hashes), 12 bytes an item. The heap grows and
 * shrinks a page at a time, so no operation copies the whole queue (a million items are 183
 * pages of typed arrays: nothing for the garbage collector to trace, and no doubling that
 * pauses longer as the store grows).
 *
 * Hashes, not keys. An item names its entry by hash; the store resolves it through the hash
 * index (RecordTable.findByHash): the record along that hash's probe sequence whose expiry has
 * passed (at pop) or equals the item's time (when pruning). Two keys that share all 32 bits of
 * their hash each have an item of their own, so each pop still removes one expired entry.
 *
 * Lazy deletion. An item is not removed when its entry changes (an overwrite without a TTL or
 * with another one, a delete): it goes stale, and the store skips a stale item when it pops it.
 * So that stale items never outnumber live ones by much, `prune(budget, stale)` checks a bounded
 * number of items per call, walking the heap array backwards from where the last call stopped,
 * and removes the stale ones (the last item takes the removed one's place and is sifted into
 * order). The store prunes a few items per write while stale items are over half the queue, and
 * a larger slice on its maintenance tick: the work is spread, never one O(queue) pass.
 */

const PAGE_SHIFT = 16;
/** Items per page: 65,536 (768 KiB of times and hashes). */
const PAGE_ITEMS = 1 << PAGE_SHIFT;
const PAGE_MASK = PAGE_ITEMS - 1;

export class ExpiryQueue {
  private timePages: Float64Array[] = [];
  private hashPages: Uint32Array[] = [];
  private length = 0;
  /** Where the next prune resumes (it walks from the end of the array towards the root). */
  private pruneAt = -1;

  /** Items held, live and stale. */
  get size(): number {
    return this.length;
  }

  /** Adds an item: the entry whose key hashes to `hash` expires at `time`. O(log n). */
  push(time: number, hash: number): void {
    const i = this.length;
    if (i >> PAGE_SHIFT === this.timePages.length) {
      this.timePages.push(new Float64Array(PAGE_ITEMS));
      this.hashPages.push(new Uint32Array(PAGE_ITEMS));
    }
    this.length = i + 1;
    this.siftUp(i, time, hash);
  }

  /** The earliest time in the queue, or Infinity when it is empty. */
  peekTime(): number {
    return this.length === 0 ? Number.POSITIVE_INFINITY : ((this.timePages[0] as Float64Array)[0] as number);
  }

  /** Removes the earliest item and returns its hash. Call only when size > 0. */
  pop(): number {
    const top = (this.hashPages[0] as Uint32Array)[0] as number;
    this.removeAt(0);
    return top;
  }

  /**
   * Checks up to `budget` items, from where the last call stopped, and removes those `stale`
   * says are stale. Returns how many it removed.
   */
  prune(budget: number, stale: (time: number, hash: number) => boolean): number {
    let removed = 0;
    let i = this.pruneAt;
    for (let checked = 0; checked < budget && this.length > 0; checked++) {
      if (i < 0 || i >= this.length) i = this.length - 1;
      if (stale(this.timeAt(i), this.hashAt(i))) {
        this.removeAt(i);
        removed++;
      }
      i--;
    }
    this.pruneAt = i;
    return removed;
  }

  /** Keeps only the items for which `live` holds (all at once: O(n); for tests and small queues). */
  retain(live: (time: number, hash: number) => boolean): void {
    while (this.prune(this.length, (time, hash) => !live(time, hash)) > 0) {
      // Items moved into checked places by a removal are checked again by the next pass.
    }
  }

  private timeAt(i: number): number {
    return (this.timePages[i >> PAGE_SHIFT] as Float64Array)[i & PAGE_MASK] as number;
  }

  private hashAt(i: number): number {
    return (this.hashPages[i >> PAGE_SHIFT] as Uint32Array)[i & PAGE_MASK] as number;
  }

  private set(i: number, time: number, hash: number): void {
    (this.timePages[i >> PAGE_SHIFT] as Float64Array)[i & PAGE_MASK] = time;
    (this.hashPages[i >> PAGE_SHIFT] as Uint32Array)[i & PAGE_MASK] = hash;
  }

  /** Places (time, hash) at `i` or above it, moving larger parents down. */
  private siftUp(start: number, time: number, hash: number): void {
    let i = start;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const parentTime = this.timeAt(parent);
      if (parentTime <= time) break;
      this.set(i, parentTime, this.hashAt(parent));
      i = parent;
    }
    this.set(i, time, hash);
  }

  /** Places (time, hash) at `i` or below it, moving smaller children up. */
  private siftDown(start: number, time: number, hash: number): void {
    const n = this.length;
    let i = start;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.timeAt(child + 1) < this.timeAt(child)) child++;
      const childTime = this.timeAt(child);
      if (childTime >= time) break;
      this.set(i, childTime, this.hashAt(child));
      i = child;
    }
    this.set(i, time, hash);
  }

  /** Removes the item at `i`: the last item takes its place and is sifted into order. */
  private removeAt(i: number): void {
    const last = this.length - 1;
    const lastTime = this.timeAt(last);
    const lastHash = this.hashAt(last);
    this.length = last;
    // A page left empty (and one more kept as slack) is given back.
    if (this.timePages.length > 1 && (this.timePages.length - 2) << PAGE_SHIFT >= last) {
      this.timePages.pop();
      this.hashPages.pop();
    }
    if (i === last) return;
    if (i > 0 && this.timeAt((i - 1) >> 1) > lastTime) this.siftUp(i, lastTime, lastHash);
    else this.siftDown(i, lastTime, lastHash);
  }
}
