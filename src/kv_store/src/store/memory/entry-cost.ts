import { INDEX_BYTES_PER_ENTRY, RECORD_HEADER_BYTES, recordClassBytes } from './record-table.js';

/**
 * What an entry costs in the ordered index (ordered-index.ts): its record's address, 4 bytes, in
 * a page of addresses outside the heap; pages are at least a quarter full once they have split
 * or merged (half full after keys arrive in order, as a bulk load sends them), so 16 bytes
 * bound it. The key itself is not copied: the index reads it in the record.
 */
export function orderIndexBytes(_keyBytes: number): number {
  return 16;
}

/** What an expiring entry's items in the expiry queue take: two of 12 bytes. */
const EXPIRY_ITEM_BYTES = 24;

export function entryBytes(keyBytes: number, valueBytes: number, expiring: boolean): number {
  const record = recordClassBytes(RECORD_HEADER_BYTES + keyBytes + valueBytes) + INDEX_BYTES_PER_ENTRY + orderIndexBytes(keyBytes);
  return expiring ? record + EXPIRY_ITEM_BYTES : record;
}

/** The bytes an entry with this key and value (JSON text) is charged; `expiring` if it has a TTL. */
export function entryCost(key: string, value: string, expiring = false): number {
  return entryBytes(Buffer.byteLength(key), Buffer.byteLength(value), expiring);
}

/** What every entry costs beyond its key and value bytes, before rounding to its size class. */
export const ENTRY_OVERHEAD_BYTES = RECORD_HEADER_BYTES + INDEX_BYTES_PER_ENTRY;
