/*
 * How a store lays itself out in etcd, under its prefix (KV_ETCD_PREFIX, `kv/` by default):
 *
 *   <prefix>d/<key>   one per live key: a stored record (below)
 *   <prefix>m/id      the store id, written once by the first node (a create-only txn)
 *   <prefix>m/op      rewritten by every delete and every transaction, in the same etcd txn:
 *                     {"reason":"delete"|"txn","write":"<write id>"}, so a node watching the
 *                     prefix can tell a user's delete (and a transaction's changes) from a
 *                     lease expiry, which etcd performs without saying why
 *   <prefix>m/sync    a node writes it after it (re)connects its watch; seeing its own write come
 *                     back tells the node its cache has caught up
 *   <prefix>m/batch   rewritten (with the node's id) by every batch of writes made at the same
 *                     moment (write-batcher.ts), at the batch's top level, so that etcd charges the
 *                     batch to its storage quota
 *
 * One watch over the whole prefix sees all of it, in revision order.
 *
 * A stored record is JSON whose last member is the value's text, verbatim:
 *
 *   {"version":3,"createdAt":1764237600000,"updatedAt":1764237601500,"expiresAt":null,"write":"k3x9:12","value":{"x": 1}}
 *
 * `version` is the contract's (1 when created, +1 per overwrite; etcd's own version is not used:
 * a key created again over an expired record that etcd's lease has not removed yet is version 1
 * while etcd counts on). Times are milliseconds since the epoch, `expiresAt` null for none.
 * `write` names the write that stored it (a node id and a counter), so the node that sent it can
 * recognise it on the watch even when etcd's answer was lost.
 */

import { type Entry, NEVER } from '../store.js';

/** Where a store's keys live in etcd. */
export class EtcdLayout {
  /** `<prefix>d/`: every data key starts with it. */
  readonly dataPrefix: string;
  readonly idKey: string;
  readonly opKey: string;
  readonly syncKey: string;
  readonly batchKey: string;
  private readonly dataPrefixBytes: Buffer;

  constructor(readonly prefix: string) {
    this.dataPrefix = `${prefix}d/`;
    this.dataPrefixBytes = Buffer.from(this.dataPrefix, 'utf8');
    this.idKey = `${prefix}m/id`;
    this.opKey = `${prefix}m/op`;
    this.syncKey = `${prefix}m/sync`;
    this.batchKey = `${prefix}m/batch`;
  }

  /** The etcd key of a store key. */
  dataKey(key: string): string {
    return this.dataPrefix + key;
  }

  /** The store key of an etcd key (its bytes), or undefined for a key that is not data (the m/ keys). */
  keyOf(etcdKey: Buffer): string | undefined {
    const p = this.dataPrefixBytes;
    if (etcdKey.length < p.length || etcdKey.compare(p, 0, p.length, 0, p.length) !== 0) return undefined;
    return etcdKey.toString('utf8', p.length);
  }
}

/** The etcd range end that covers every key starting with `prefix` (its UTF-8 bytes, last byte + 1). */
export function rangeEnd(prefix: string): Buffer {
  const bytes = Buffer.from(prefix, 'utf8');
  for (let i = bytes.length - 1; i >= 0; i--) {
    if ((bytes[i] as number) < 0xff) {
      const end = Buffer.from(bytes.subarray(0, i + 1));
      end[i] = (bytes[i] as number) + 1;
      return end;
    }
  }
  // Only 0xff bytes (or empty): to the end of the keyspace, which etcd spells "\0".
  return Buffer.from([0]);
}

/** The record of an entry, as stored in etcd. */
export function encodeRecord(entry: Omit<Entry, 'key' | 'revision'>, write: string): string {
  const expiresAt = entry.expiresAt === NEVER ? 'null' : String(entry.expiresAt);
  return `{"version":${entry.version},"createdAt":${entry.createdAt},"updatedAt":${entry.updatedAt},"expiresAt":${expiresAt},"write":"${write}","value":${entry.value}}`;
}

const VALUE_MEMBER = Buffer.from(',"value":');

interface RecordHead {
  version?: unknown;
  createdAt?: unknown;
  updatedAt?: unknown;
  expiresAt?: unknown;
  write?: unknown;
}

/** A decoded record: the entry (given its key and revision) and the write that stored it. */
export interface DecodedRecord {
  readonly entry: Entry;
  readonly write: string;
}

/**
 * Decodes a stored record (its bytes); undefined when it is not one (something else wrote under
 * the prefix). The value becomes a string of its own, not a slice of the record's text, so a
 * cached entry does not keep the whole record alive.
 */
export function decodeRecord(key: string, revision: number, bytes: Buffer): DecodedRecord | undefined {
  const at = bytes.indexOf(VALUE_MEMBER);
  if (at === -1 || bytes[bytes.length - 1] !== 0x7d /* } */) return undefined;
  let head: RecordHead;
  try {
    head = JSON.parse(`${bytes.toString('utf8', 0, at)}}`) as RecordHead;
  } catch {
    return undefined;
  }
  const { version, createdAt, updatedAt, expiresAt, write } = head;
  if (typeof version !== 'number' || typeof createdAt !== 'number' || typeof updatedAt !== 'number') return undefined;
  if (expiresAt !== null && typeof expiresAt !== 'number') return undefined;
  return {
    entry: {
      key,
      value: bytes.toString('utf8', at + VALUE_MEMBER.length, bytes.length - 1),
      version,
      revision,
      createdAt,
      updatedAt,
      expiresAt: expiresAt === null ? NEVER : expiresAt,
    },
    write: typeof write === 'string' ? write : '',
  };
}

/** Why a delete or a transaction happened, as the m/op marker says it. */
export interface OpMarker {
  readonly reason: 'delete' | 'txn';
  readonly write: string;
}

export function encodeMarker(marker: OpMarker): string {
  return `{"reason":"${marker.reason}","write":"${marker.write}"}`;
}

export function decodeMarker(bytes: Buffer): OpMarker | undefined {
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as { reason?: unknown; write?: unknown };
    if ((parsed.reason === 'delete' || parsed.reason === 'txn') && typeof parsed.write === 'string') {
      return { reason: parsed.reason, write: parsed.write };
    }
  } catch {
    // Not a marker.
  }
  return undefined;
}
