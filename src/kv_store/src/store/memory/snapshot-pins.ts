import type { OrderTree } from './ordered-index.js';
import type { RecordAddress } from './record-table.js';

/*
 * Pinned snapshots of the ordered index, and the records they still need.
 *
 * A snapshot is a frozen copy of the ordered index (O(1), copy-on-write) taken at revision R:
 * order keys to record addresses as they were at R. It is read long after R (a listing's later
 * pages, a durable snapshot being written), so the records it points to must stay as they were:
 *
 *   A record last written at revision r is visible to a snapshot at R iff r <= R. While any
 *   snapshot at R >= r is pinned, that record is never rewritten in place and never freed:
 *   an overwrite moves the key to a new record, a delete takes it out of the hash index, and
 *   either way the old record goes to the graveyard, tagged with the revision W that retired it.
 *
 *   A retired record is needed only by snapshots with r <= R < W. It is freed once every pinned
 *   snapshot has R >= W (or none is pinned). The graveyard is in W order, so freeing pops from
 *   its front. (A snapshot at 5 keeps everything retired after 5 alive, even what only a
 *   snapshot at 99 needed: simple, and bounded by the snapshots' lifetimes.)
 *
 * Holders. The cursor table holds a listing's snapshot from its first page until KV_CURSOR_TTL_MS
 * after its last use, at most KV_MAX_CURSORS of them (the least recently used goes first), and
 * lets go of all of them when writes need the memory. Other holders (a durable snapshot) hold
 * until they release. Listings at the same revision share one snapshot.
 */

/** A frozen ordered index and the revision it shows. */
export interface PinnedSnapshot {
  readonly revision: number;
  readonly tree: OrderTree;
}

/** How long the cursor table keeps a listing's snapshot, and how many at most. */
export interface CursorLimits {
  /** Milliseconds after its last use. */
  readonly ttlMs: number;
  readonly maxCursors: number;
}

interface Pin extends PinnedSnapshot {
  /** Holders other than the cursor table. */
  holders: number;
  /** When the cursor table last used it (ms), or -1 when the cursor table does not hold it. */
  cursorUsedAt: number;
}

export class SnapshotPins {
  /** By revision, in the order the cursor table last used them (least recent first). */
  private readonly pins = new Map<number, Pin>();
  private cursors = 0;
  /** The newest and oldest revisions pinned; -1 and Infinity when none is. */
  private newest = -1;
  private oldest = Number.POSITIVE_INFINITY;
  // The graveyard, a queue in the order of the revision that retired each record.
  private graveAddresses: RecordAddress[] = [];
  private graveRetiredAt: number[] = [];
  private graveBytes: number[] = [];
  private graveHead = 0;
  /** Bytes of records in the graveyard. */
  retainedBytes = 0;

  constructor(
    private readonly limits: CursorLimits,
    /** Frees a record of the graveyard. */
    private readonly free: (address: RecordAddress) => void,
  ) {}

  /** Snapshots pinned. */
  get size(): number {
    return this.pins.size;
  }

  /** Records in the graveyard. */
  get retainedRecords(): number {
    return this.graveAddresses.length - this.graveHead;
  }

  /** True when a record last written at `recordRevision` may be read by a pinned snapshot: keep it as it is. */
  mustKeep(recordRevision: number): boolean {
    return recordRevision <= this.newest;
  }

  /** Puts a record that `mustKeep` protects, taken out of the index by the commit of `revision`, in the graveyard. */
  retire(address: RecordAddress, bytes: number, revision: number): void {
    this.graveAddresses.push(address);
    this.graveRetiredAt.push(revision);
    this.graveBytes.push(bytes);
    this.retainedBytes += bytes;
  }

  /** The cursor table's snapshot at `revision`, marked used at `now`; undefined when it is not held (expired or evicted). */
  cursor(revision: number, now: number): PinnedSnapshot | undefined {
    const pin = this.pins.get(revision);
    if (pin === undefined || pin.cursorUsedAt < 0) return undefined;
    this.touch(pin, now);
    return pin;
  }

  /** Has the cursor table hold the snapshot at `revision` (frozen by `freeze` unless one is pinned already). */
  pinForCursor(revision: number, freeze: () => OrderTree, now: number): void {
    const pin = this.pin(revision, freeze);
    if (pin.cursorUsedAt < 0) {
      this.cursors++;
      if (this.cursors > this.limits.maxCursors) this.evictLeastRecent(pin);
    }
    this.touch(pin, now);
  }

  /** Pins the snapshot at `revision` for a holder of its own, until it calls release (once). */
  hold(revision: number, freeze: () => OrderTree): { readonly tree: OrderTree; release(): void } {
    const pin = this.pin(revision, freeze);
    pin.holders++;
    let released = false;
    return {
      tree: pin.tree,
      release: () => {
        if (released) return;
        released = true;
        pin.holders--;
        if (pin.holders === 0 && pin.cursorUsedAt < 0) this.unpin(pin);
      },
    };
  }

  /** Lets go of the cursor table's snapshots unused for the cursor lifetime; returns how many. */
  expireIdle(now: number): number {
    let expired = 0;
    for (const pin of this.pins.values()) {
      if (pin.cursorUsedAt < 0) continue;
      if (now - pin.cursorUsedAt < this.limits.ttlMs) break; // the rest were used later
      this.dropCursor(pin);
      expired++;
    }
    return expired;
  }

  /** Lets go of every snapshot the cursor table holds (writes need the memory); returns how many. */
  evictCursors(): number {
    let evicted = 0;
    for (const pin of [...this.pins.values()]) {
      if (pin.cursorUsedAt < 0) continue;
      this.dropCursor(pin);
      evicted++;
    }
    return evicted;
  }

  /** Lets go of everything and frees the graveyard (the store is closing). */
  clear(): void {
    this.pins.clear();
    this.cursors = 0;
    this.bounds();
    this.reclaim();
  }

  private pin(revision: number, freeze: () => OrderTree): Pin {
    let pin = this.pins.get(revision);
    if (pin === undefined) {
      pin = { revision, tree: freeze(), holders: 0, cursorUsedAt: -1 };
      this.pins.set(revision, pin);
      this.bounds();
    }
    return pin;
  }

  private touch(pin: Pin, now: number): void {
    pin.cursorUsedAt = now;
    // Most recently used last: re-inserting moves it to the end of the map's order.
    this.pins.delete(pin.revision);
    this.pins.set(pin.revision, pin);
  }

  private evictLeastRecent(keep: Pin): void {
    for (const pin of this.pins.values()) {
      if (pin !== keep && pin.cursorUsedAt >= 0) {
        this.dropCursor(pin);
        return;
      }
    }
  }

  private dropCursor(pin: Pin): void {
    pin.cursorUsedAt = -1;
    this.cursors--;
    if (pin.holders === 0) this.unpin(pin);
  }

  private unpin(pin: Pin): void {
    this.pins.delete(pin.revision);
    this.bounds();
    this.reclaim();
  }

  private bounds(): void {
    let newest = -1;
    let oldest = Number.POSITIVE_INFINITY;
    for (const revision of this.pins.keys()) {
      if (revision > newest) newest = revision;
      if (revision < oldest) oldest = revision;
    }
    this.newest = newest;
    this.oldest = oldest;
  }

  /** Frees the retired records no pinned snapshot can see: those retired at or before the oldest pinned revision. */
  private reclaim(): void {
    const addresses = this.graveAddresses;
    let head = this.graveHead;
    while (head < addresses.length && (this.graveRetiredAt[head] as number) <= this.oldest) {
      this.free(addresses[head] as RecordAddress);
      this.retainedBytes -= this.graveBytes[head] as number;
      head++;
    }
    if (head === addresses.length) {
      this.graveAddresses = [];
      this.graveRetiredAt = [];
      this.graveBytes = [];
      head = 0;
    } else if (head > 4096 && head > addresses.length / 2) {
      this.graveAddresses = addresses.slice(head);
      this.graveRetiredAt = this.graveRetiredAt.slice(head);
      this.graveBytes = this.graveBytes.slice(head);
      head = 0;
    }
    this.graveHead = head;
  }
}
