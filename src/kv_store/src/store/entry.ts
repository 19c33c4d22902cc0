/**
 * One stored key. The value is kept as the JSON text it arrived as, so a read never
 * re-serializes it. Times are milliseconds since the epoch; `expiresAt` is null when the
 * entry never expires.
 */
export interface Entry {
  readonly key: string;
  readonly value: string;
  readonly version: number;
  readonly revision: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly expiresAt: number | null;
}

/**
 * What one entry costs, as counted against KV_MAX_MEMORY_BYTES: the key and value text plus a
 * fixed overhead for the string headers, the key's Map slot, the slot's 40 bytes of numbers
 * and value pointer, and its share of the expiry queue. Measured on the heap plus ArrayBuffers
 * (test/reliability/memory-accounting.test.ts: 116-156 bytes beyond the text), and rounded up
 * so the limit errs on the safe side.
 */
export const ENTRY_OVERHEAD_BYTES = 160;

// V8 keeps a string of ASCII text in one byte a character, any other string in two.
const NOT_ASCII = /[\u0080-\uffff]/;

/** The bytes V8 needs for the characters of `s`. */
function stringBytes(s: string): number {
  return NOT_ASCII.test(s) ? 2 * s.length : s.length;
}

/** The bytes an entry with this key and value is charged. */
export function entryCost(key: string, value: string): number {
  return ENTRY_OVERHEAD_BYTES + stringBytes(key) + stringBytes(value);
}
