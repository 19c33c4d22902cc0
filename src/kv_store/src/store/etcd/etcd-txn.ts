/*
 * One kv_store write, or one whole transaction, as ONE etcd Txn: never a read and then an
 * unconditional write.
 *
 * planTransaction (store/txn.ts) evaluates a request over a view of the keys it touches. The
 * view records what the plan read (PinnedView): every key's etcd mod_revision (0 when etcd does
 * not hold it; a record whose time has passed but which etcd still holds is read as missing, and
 * pinned at its mod_revision), and for each deletePrefix the revision R at which its list of
 * keys was complete. The Txn then says:
 *
 *   compare  every key read:     mod_revision == what the plan saw
 *            every prefix listed: mod_revision < R + 1 over the whole range (no key in it
 *                                 written since; a key deleted since is caught by its own compare,
 *                                 since every key a deletePrefix removes was read)
 *   success  the plan's changes: one put (a stored record, on its expiry bucket's lease) or
 *            delete per key, plus the m/op marker for deletes and transactions
 *   failure  a range of every key and prefix the request touches: a fresh, consistent view at
 *            the Txn's revision, to plan again from
 *
 * so etcd applies the plan only if everything it was computed from still holds, all of it under
 * one revision, or nothing. A refusal (a failed check, key_exists, a stale If-Match) computed
 * from the node's cache is confirmed the same way, by a Txn with the same compares and no
 * changes; one computed from a fresh view is final.
 */

import type { Entry } from '../store.js';
import type { PlannedChange, TxnRequest, TxnView } from '../txn.js';
import { b64, type EtcdRangeResponse, type EtcdTxnResponse, int } from './etcd-wire.js';
import { decodeRecord, type EtcdLayout, encodeMarker, encodeRecord, type OpMarker, rangeEnd } from './stored-record.js';

/** The keys and prefixes a request touches, known before it runs. */
export interface ReadSet {
  readonly keys: readonly string[];
  readonly prefixes: readonly string[];
}

export function readSetOf(request: TxnRequest): ReadSet {
  const keys = new Set<string>();
  const prefixes = new Set<string>();
  for (const check of request.checks) keys.add(check.key);
  for (const op of request.ops) {
    if (op.op === 'deletePrefix') prefixes.add(op.prefix);
    else keys.add(op.key);
  }
  return { keys: [...keys], prefixes: [...prefixes] };
}

/** Where a plan reads the store from: the node's cache, or a consistent read of etcd. */
export interface ViewSource {
  /** True for etcd's state at `revision`, read just now: a refusal planned on it is final. */
  readonly fresh: boolean;
  readonly revision: number;
  /** The entry etcd holds for `key`, also when its time has passed. */
  raw(key: string): Entry | undefined;
  /** Every key etcd holds under `prefix` (only a fresh source answers). */
  keysUnder(prefix: string): readonly string[];
}

/** A TxnView that records what the plan read, for the Txn's compares. */
export class PinnedView implements TxnView {
  /** Key -> the mod_revision the plan saw (0: etcd did not hold it). */
  readonly pins = new Map<string, number>();
  /** Prefix -> the revision at which the plan's list of its keys was complete. */
  readonly ranges = new Map<string, number>();

  constructor(
    readonly source: ViewSource,
    private readonly now: number,
  ) {}

  get(key: string): Entry | undefined {
    const entry = this.source.raw(key);
    this.pins.set(key, entry?.revision ?? 0);
    return entry !== undefined && entry.expiresAt > this.now ? entry : undefined;
  }

  keysWithPrefix(prefix: string): Iterable<string> {
    this.ranges.set(prefix, this.source.revision);
    return this.source.keysUnder(prefix).filter((key) => {
      const entry = this.source.raw(key);
      return entry !== undefined && entry.expiresAt > this.now;
    });
  }

  /** The live entry the plan found for `key` (without pinning it again). */
  liveBefore(key: string): Entry | undefined {
    const entry = this.source.raw(key);
    return entry !== undefined && entry.expiresAt > this.now ? entry : undefined;
  }
}

/** etcd's state of a read set at one revision, decoded from the ranges of `readOps`. */
export class EtcdSnapshot implements ViewSource {
  readonly fresh = true;

  constructor(
    readonly revision: number,
    private readonly entries: ReadonlyMap<string, Entry>,
    private readonly prefixes: ReadonlyMap<string, readonly string[]>,
  ) {}

  raw(key: string): Entry | undefined {
    return this.entries.get(key);
  }

  keysUnder(prefix: string): readonly string[] {
    const keys = this.prefixes.get(prefix);
    if (keys === undefined) throw new Error(`prefix '${prefix}' was not read`);
    return keys;
  }
}

export type RequestOp =
  | { request_range: { key: string; range_end?: string } }
  | { request_put: { key: string; value: string; lease?: string } }
  | { request_delete_range: { key: string } };

type Compare =
  | { key: string; target: 'MOD'; result: 'EQUAL'; mod_revision: string }
  | { key: string; range_end: string; target: 'MOD'; result: 'LESS'; mod_revision: string };

/** An etcd TxnRequest (etcd-wire.ts's shapes). */
export interface EtcdTxnRequest {
  readonly compare: readonly Compare[];
  readonly success: readonly RequestOp[];
  readonly failure: readonly RequestOp[];
}

/** A range of every key, then every prefix, of the read set (a Txn's failure branch, or a plain read). */
export function readOps(readSet: ReadSet, layout: EtcdLayout): RequestOp[] {
  return [
    ...readSet.keys.map((key) => ({ request_range: { key: b64(layout.dataKey(key)) } })),
    ...readSet.prefixes.map((prefix) => {
      const from = layout.dataKey(prefix);
      return { request_range: { key: b64(from), range_end: rangeEnd(from).toString('base64') } };
    }),
  ];
}

/** The snapshot the answers of `readOps` make, at the Txn's revision. */
export function snapshotOf(answer: EtcdTxnResponse, readSet: ReadSet, layout: EtcdLayout): EtcdSnapshot {
  const revision = int(answer.header?.revision);
  const responses = answer.responses ?? [];
  const entries = new Map<string, Entry>();
  const prefixes = new Map<string, string[]>();
  const take = (range: EtcdRangeResponse | undefined): string[] => {
    const keys: string[] = [];
    for (const kv of range?.kvs ?? []) {
      const key = layout.keyOf(Buffer.from(kv.key, 'base64'));
      if (key === undefined) continue;
      const decoded = decodeRecord(key, int(kv.mod_revision), Buffer.from(kv.value ?? '', 'base64'));
      if (decoded === undefined) continue;
      entries.set(key, decoded.entry);
      keys.push(key);
    }
    return keys;
  };
  for (let i = 0; i < readSet.keys.length; i++) take(responses[i]?.response_range);
  for (const [i, prefix] of readSet.prefixes.entries()) prefixes.set(prefix, take(responses[readSet.keys.length + i]?.response_range));
  return new EtcdSnapshot(revision, entries, prefixes);
}

/** The compares that hold exactly when everything `view` read is still as it was. */
export function comparesOf(view: PinnedView, layout: EtcdLayout): Compare[] {
  const compares: Compare[] = [];
  for (const [key, modRevision] of view.pins) {
    compares.push({ key: b64(layout.dataKey(key)), target: 'MOD', result: 'EQUAL', mod_revision: String(modRevision) });
  }
  for (const [prefix, revision] of view.ranges) {
    const from = layout.dataKey(prefix);
    compares.push({
      key: b64(from),
      range_end: rangeEnd(from).toString('base64'),
      target: 'MOD',
      result: 'LESS',
      mod_revision: String(revision + 1),
    });
  }
  return compares;
}

/** The Txn's success branch: each change as a put (on its lease, if it expires) or a delete, and the marker. */
export function writeOps(
  changes: readonly PlannedChange[],
  leases: ReadonlyMap<string, string>,
  layout: EtcdLayout,
  write: string,
  marker: OpMarker['reason'] | undefined,
): RequestOp[] {
  const ops: RequestOp[] = changes.map((change) => {
    if (change.type === 'delete') return { request_delete_range: { key: b64(layout.dataKey(change.key)) } };
    const { entry } = change;
    const lease = leases.get(entry.key);
    const put = { key: b64(layout.dataKey(entry.key)), value: b64(encodeRecord(entry, write)) };
    return { request_put: lease === undefined ? put : { ...put, lease } };
  });
  if (marker !== undefined) ops.push({ request_put: { key: b64(layout.opKey), value: b64(encodeMarker({ reason: marker, write })) } });
  return ops;
}
