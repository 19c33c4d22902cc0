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
 * fixed overhead for the entry object, its boxed numbers and its hash-table slot. Measured
 * against the V8 heap in test/store-memory.test.ts.
 */
export const ENTRY_OVERHEAD_BYTES = 160;

/** The bytes an entry with this key and value is charged. */
export function entryCost(key: string, value: string): number {
  return ENTRY_OVERHEAD_BYTES + key.length + value.length;
}
