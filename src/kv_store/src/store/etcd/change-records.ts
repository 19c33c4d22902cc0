/*
 * etcd's events as the port's changes, one revision at a time: shared by the node cache (the
 * live watch, keyspace-cache.ts) and, when a watcher resumes from further back than the node
 * holds, the history read back from etcd, so both give exactly the same batches.
 *
 * What etcd does not say, and how it is known: the version, times and expiry of a put are in its
 * stored record; why a key went away is the m/op marker written in the same revision ('delete'
 * for a user's delete, 'txn' for a transaction), and without one it was etcd's lease removing an
 * expired key ('expired'), or for a key without a TTL a delete made behind kv_store's back
 * ('delete'). A put's reason is 'txn' when the marker says so.
 */

import { type Change, type Entry, NEVER, type PreviousValue } from '../store.js';
import { type EtcdEvent, type EtcdKeyValue, int } from './etcd-wire.js';
import { decodeMarker, decodeRecord, type EtcdLayout, type OpMarker } from './stored-record.js';

/** A data key's event in one revision: the record written (undefined for a delete, or one that does not decode). */
export interface DataEvent {
  readonly key: string;
  readonly entry: Entry | undefined;
  /** The write id the record carries ('' for none). */
  readonly write: string;
  /** The key's record before the event, when etcd sent it (prev_kv); undefined otherwise. */
  readonly before: Entry | undefined;
}

/** One revision's events, decoded. */
export interface RevisionEvents {
  readonly revision: number;
  /** The m/op marker written in this revision, if any. */
  readonly marker: OpMarker | undefined;
  readonly data: readonly DataEvent[];
  /** True when something was written under the prefix at this revision (data or not). */
  readonly any: boolean;
}

/** Splits a watch message's events (in revision order) by revision and decodes each revision. */
export function byRevision(layout: EtcdLayout, events: readonly EtcdEvent[]): RevisionEvents[] {
  const out: RevisionEvents[] = [];
  let revision = -1;
  let group: EtcdEvent[] = [];
  for (const event of events) {
    const r = int(event.kv.mod_revision);
    if (r !== revision && group.length > 0) {
      out.push(decodeRevision(layout, revision, group));
      group = [];
    }
    revision = r;
    group.push(event);
  }
  if (group.length > 0) out.push(decodeRevision(layout, revision, group));
  return out;
}

function decodeRevision(layout: EtcdLayout, revision: number, events: readonly EtcdEvent[]): RevisionEvents {
  let marker: OpMarker | undefined;
  const data: DataEvent[] = [];
  for (const event of events) {
    const etcdKey = Buffer.from(event.kv.key, 'base64');
    const key = layout.keyOf(etcdKey);
    if (key === undefined) {
      if (event.type !== 'DELETE' && etcdKey.toString('utf8') === layout.opKey)
        marker = decodeMarker(Buffer.from(event.kv.value ?? '', 'base64'));
      continue;
    }
    const decoded = event.type === 'DELETE' ? undefined : decodeKv(key, event.kv);
    const before = event.prev_kv === undefined ? undefined : decodeKv(key, event.prev_kv)?.entry;
    data.push({ key, entry: decoded?.entry, write: decoded?.write ?? '', before });
  }
  return { revision, marker, data, any: events.length > 0 };
}

function decodeKv(key: string, kv: EtcdKeyValue) {
  return decodeRecord(key, int(kv.mod_revision), Buffer.from(kv.value ?? '', 'base64'));
}

/**
 * The change one data event is, given what the key held before (`old`, as the node knew it, or
 * as etcd sent it); undefined when nothing changed for the port (a delete of a key it did not
 * hold). `prev` is what the key held, as the in-memory engine says it: null for a key written
 * over a record whose time had passed (that record had expired, so the key was absent).
 */
export function changeOf(revision: number, event: DataEvent, old: Entry | undefined, marker: OpMarker | undefined): Change | undefined {
  const { key, entry } = event;
  if (entry === undefined) {
    if (old === undefined) return undefined;
    const reason = marker?.reason ?? (old.expiresAt !== NEVER ? 'expired' : 'delete');
    return { type: 'delete', key, revision, reason, prev: previous(old) };
  }
  const prev = old !== undefined && old.expiresAt > entry.updatedAt ? previous(old) : null;
  return marker?.reason === 'txn' ? { type: 'put', ...entry, reason: 'txn', prev } : { type: 'put', ...entry, prev };
}

/** What a change's `prev` says of an entry. */
export function previous(entry: Entry): PreviousValue {
  return { value: entry.value, version: entry.version, revision: entry.revision };
}
