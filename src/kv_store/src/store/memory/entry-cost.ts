import { INDEX_BYTES_PER_ENTRY, RECORD_HEADER_BYTES, recordClassBytes } from './record-table.js';

/**
 * What an entry's key costs in the ordered index (ordered-index.ts): a V8 string of its own (a
 * 16-byte header and the characters, which the key's UTF-8 length bounds), and its share of the
 * B+ tree's leaves (a key and a value slot, 8 bytes each, in leaves about 70% full, and the
 * nodes themselves): 58-67 bytes for a 16-byte key, measured over 1M keys (docs/list-watch.md).
 */
export function orderIndexBytes(keyBytes: number): number {
  return 32 + 16 + ((keyBytes + 7) & ~7);
}

/**
 * What an entry costs, as counted against KV_MAX_MEMORY_BYTES: its record (a 48-byte header, the
 * key's UTF-8 and the value's JSON text, rounded up to the record's size class), its share of
 * the hash index at the index's fullest and its place in the ordered index; and, if it expires,
 * its items in the expiry queue (a time and a key hash, 12 bytes, in typed arrays; stale items
 * are pruned once over half of the queue, so two items an entry at most, give or take 1,024).
 * This is the memory the store really holds for it
 * (test/store-memory.test.ts and test/reliability/memory-accounting.test.ts measure it).
 */
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
