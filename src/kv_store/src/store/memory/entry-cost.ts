import { INDEX_BYTES_PER_ENTRY, RECORD_HEADER_BYTES, recordClassBytes } from './record-table.js';

/**
 * What an entry costs, as counted against KV_MAX_MEMORY_BYTES: its record (a 48-byte header, the
 * key's UTF-8 and the value's JSON text, rounded up to the record's size class) and its share of
 * the key index at the index's fullest; and, if it expires, its item in the expiry queue (a time,
 * a pointer and a copy of its key as a V8 string, whose length the key's UTF-8 length bounds).
 * This is the memory the store really holds for it (test/store-memory.test.ts and
 * test/reliability/memory-accounting.test.ts measure it).
 */
export function entryBytes(keyBytes: number, valueBytes: number, expiring: boolean): number {
  const record = recordClassBytes(RECORD_HEADER_BYTES + keyBytes + valueBytes) + INDEX_BYTES_PER_ENTRY;
  return expiring ? record + 40 + ((keyBytes + 7) & ~7) : record;
}

/** The bytes an entry with this key and value (JSON text) is charged; `expiring` if it has a TTL. */
export function entryCost(key: string, value: string, expiring = false): number {
  return entryBytes(Buffer.byteLength(key), Buffer.byteLength(value), expiring);
}

/** What every entry costs beyond its key and value bytes, before rounding to its size class. */
export const ENTRY_OVERHEAD_BYTES = RECORD_HEADER_BYTES + INDEX_BYTES_PER_ENTRY;
