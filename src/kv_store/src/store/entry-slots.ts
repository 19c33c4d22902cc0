import type { Entry } from './entry.js';

// The numbers of a slot, side by side in one Float64Array: no object and no boxed double per
// entry. NaN in EXPIRES means the entry never expires.
const FIELDS = 5;
const VERSION = 0;
const REVISION = 1;
const CREATED = 2;
const UPDATED = 3;
const EXPIRES = 4;
const INITIAL_SLOTS = 1024;

/**
 * Entries stored by column: the value texts in one array and the numbers of every entry in one
 * Float64Array, both indexed by a slot number. An entry then costs its value string, one array
 * pointer and 40 bytes of numbers, where an object per entry cost about 120 bytes more
 * (docs/performance.md, "Where the bytes go"). Freed slots are reused; the columns only grow.
 */
export class EntrySlots {
  private nums = new Float64Array(FIELDS * INITIAL_SLOTS);
  private readonly values: Array<string | undefined> = [];
  private readonly free: number[] = [];

  /** A slot to write a new entry into. */
  alloc(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    const slot = this.values.length;
    this.values.push(undefined);
    if ((slot + 1) * FIELDS > this.nums.length) {
      const grown = new Float64Array(this.nums.length * 2);
      grown.set(this.nums);
      this.nums = grown;
    }
    return slot;
  }

  /** Gives a slot back; its value is dropped at once. */
  release(slot: number): void {
    this.values[slot] = undefined;
    this.free.push(slot);
  }

  write(
    slot: number,
    value: string,
    version: number,
    revision: number,
    createdAt: number,
    updatedAt: number,
    expiresAt: number | null,
  ): void {
    this.values[slot] = value;
    const at = slot * FIELDS;
    const nums = this.nums;
    nums[at + VERSION] = version;
    nums[at + REVISION] = revision;
    nums[at + CREATED] = createdAt;
    nums[at + UPDATED] = updatedAt;
    nums[at + EXPIRES] = expiresAt ?? Number.NaN;
  }

  value(slot: number): string {
    return this.values[slot] as string;
  }

  version(slot: number): number {
    return this.nums[slot * FIELDS + VERSION] as number;
  }

  revision(slot: number): number {
    return this.nums[slot * FIELDS + REVISION] as number;
  }

  createdAt(slot: number): number {
    return this.nums[slot * FIELDS + CREATED] as number;
  }

  /** When the entry expires, or null if it never does. */
  expiresAt(slot: number): number | null {
    const t = this.nums[slot * FIELDS + EXPIRES] as number;
    return Number.isNaN(t) ? null : t;
  }

  /** The entry in `slot`, as an object of its own (later writes to the slot do not change it). */
  entry(key: string, slot: number): Entry {
    const at = slot * FIELDS;
    const nums = this.nums;
    const expires = nums[at + EXPIRES] as number;
    return {
      key,
      value: this.values[slot] as string,
      version: nums[at + VERSION] as number,
      revision: nums[at + REVISION] as number,
      createdAt: nums[at + CREATED] as number,
      updatedAt: nums[at + UPDATED] as number,
      expiresAt: Number.isNaN(expires) ? null : expires,
    };
  }
}
