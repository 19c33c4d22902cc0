import { INDEX_BYTES_PER_ENTRY, RECORD_HEADER_BYTES, recordClassBytes } from './record-table.js';

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
 * What an entry costs, as counted against KV_MAX_MEMORY_BYTES: its record (a 48-byte header, the
 * key's UTF-8 and the value's JSON text, rounded up to the record's size class) and its share of
 * the key index at the index's fullest. This is the memory the store really holds for it
 * (test/store-memory.test.ts and test/reliability/memory-accounting.test.ts measure it).
 */
export function recordCost(keyBytes: number, valueBytes: number): number {
  return recordClassBytes(RECORD_HEADER_BYTES + keyBytes + valueBytes) + INDEX_BYTES_PER_ENTRY;
}

/**
 * What an entry with an expiry costs on top: its item in the expiry queue, a time, a pointer and
 * a copy of its key as a V8 string (header and characters; a key's UTF-8 length bounds its V8 length).
 */
export function expiryCost(keyBytes: number): number {
  return 40 + ((keyBytes + 7) & ~7);
}

/** The bytes an entry with this key and value (JSON text) is charged; `expiring` if it has a TTL. */
export function entryCost(key: string, value: string, expiring = false): number {
  const keyBytes = Buffer.byteLength(key);
  return recordCost(keyBytes, Buffer.byteLength(value)) + (expiring ? expiryCost(keyBytes) : 0);
}

/** What every entry costs beyond its key and value bytes, before rounding to its size class. */
export const ENTRY_OVERHEAD_BYTES = RECORD_HEADER_BYTES + INDEX_BYTES_PER_ENTRY;
