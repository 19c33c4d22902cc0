/**
 * A min-heap of (expiresAt, key) pairs, so expired keys can be found without scanning the
 * store. Items are never removed when an entry changes: the store checks each popped item
 * against the live entry and drops stale ones (lazy deletion).
 */
export class ExpiryQueue {
  private times: number[] = [];
  private keys: string[] = [];

  get size(): number {
    return this.times.length;
  }

  /** Adds a key that expires at `time`. O(log n). */
  push(time: number, key: string): void {
    const times = this.times;
    const keys = this.keys;
    let i = times.length;
    times.push(time);
    keys.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const parentTime = times[parent] as number;
      if (parentTime <= time) break;
      times[i] = parentTime;
      keys[i] = keys[parent] as string;
      i = parent;
    }
    times[i] = time;
    keys[i] = key;
  }

  /** The earliest time in the queue, or Infinity when it is empty. */
  peekTime(): number {
    return this.times.length === 0 ? Number.POSITIVE_INFINITY : (this.times[0] as number);
  }

  /** Removes the earliest item and returns its key. Call only when size > 0. */
  pop(): string {
    const times = this.times;
    const keys = this.keys;
    const top = keys[0] as string;
    const lastTime = times.pop() as number;
    const lastKey = keys.pop() as string;
    const n = times.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && (times[child + 1] as number) < (times[child] as number)) child++;
        const childTime = times[child] as number;
        if (childTime >= lastTime) break;
        times[i] = childTime;
        keys[i] = keys[child] as string;
        i = child;
      }
      times[i] = lastTime;
      keys[i] = lastKey;
    }
    return top;
  }

  /** Keeps only the items for which `live` holds, and restores the heap order. O(n). */
  retain(live: (time: number, key: string) => boolean): void {
    const times: number[] = [];
    const keys: string[] = [];
    for (let i = 0; i < this.times.length; i++) {
      const time = this.times[i] as number;
      const key = this.keys[i] as string;
      if (live(time, key)) {
        times.push(time);
        keys.push(key);
      }
    }
    this.times = [];
    this.keys = [];
    for (let i = 0; i < times.length; i++) this.push(times[i] as number, keys[i] as string);
  }
}
