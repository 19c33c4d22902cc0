/*
 * Ordered listing (`list`) from etcd: every page of a listing is read from etcd at the listing's
 * revision (the revision etcd answered the first page at), so the pages are one consistent
 * snapshot whatever is written meanwhile, on this node or any other; a cursor names that
 * revision and the last key returned, so it works on any node for as long as etcd holds the
 * revision (until etcd compacts it: then cursor_expired).
 *
 * A page is etcd ranges of CHUNK keys, in key order (etcd's, bytewise: the port's order), inside
 * [prefix or start, end or the end of the prefix). Records whose expiresAt has passed are skipped
 * (hidden as everywhere). With a delimiter, a key that holds it after the prefix is rolled up
 * into its prefix, and the scan jumps over the rest of that prefix. The page ends after `limit`
 * items and prefixes, once one more is known to follow (then `next`), or at the end of the range.
 *
 * Costs, from etcd 3.4: a forward page reads O(limit + skipped) keys; a reverse page asks etcd to
 * sort descending, which in 3.4 reads the whole remaining range before truncating it. `count`
 * is etcd's count of the keys in the range at the listing's revision, less the keys this node
 * knows to have expired (whose removal etcd has not done yet).
 */

import type { Entry, ListItem, ListPage, ListQuery } from '../store.js';
import { StoreError } from '../store-error.js';
import { EtcdError, type EtcdRangeResponse, GRPC, int } from './etcd-wire.js';
import { decodeRecord, type EtcdLayout, rangeEnd } from './stored-record.js';

/** Keys per etcd range while filling a page. */
const CHUNK = 256;

/** How the listing reads etcd: a range request, through the store's retries; throws EtcdError or StoreError. */
export type RangeReader = (request: Record<string, unknown>) => Promise<EtcdRangeResponse>;

/** One page of `query`, read from etcd at `from`'s revision, or `at`; `expiredIn` counts the keys of a range the node knows expired at `now`. */
export async function listFromEtcd(
  read: RangeReader,
  layout: EtcdLayout,
  query: ListQuery,
  now: number,
  expiredIn: (query: ListQuery) => number,
  /** The revision of a first page; etcd's current one when absent. */
  at?: number,
): Promise<ListPage> {
  const { prefix, delimiter, reverse, limit, from } = query;
  const bytes = (key: string) => Buffer.from(layout.dataKey(key), 'utf8');
  // The range: inside the prefix, from start (inclusive) to end (exclusive).
  let lo: Buffer = bytes(prefix);
  if (query.start !== undefined && Buffer.compare(bytes(query.start), lo) > 0) lo = bytes(query.start);
  let hi: Buffer = rangeEnd(layout.dataKey(prefix));
  if (query.end !== undefined && Buffer.compare(bytes(query.end), hi) < 0) hi = bytes(query.end);
  const whole = { lo, hi };
  const rolledUp = (key: string): string | undefined => {
    if (delimiter === undefined || !key.startsWith(prefix)) return undefined;
    const at = key.indexOf(delimiter, prefix.length);
    return at === -1 ? undefined : key.slice(0, at + delimiter.length);
  };
  if (from !== undefined) {
    // Go on after the last key (or rolled-up prefix) returned: everything under a rolled-up prefix came with it.
    const rolled = rolledUp(from.after) === from.after;
    if (reverse) hi = bytes(from.after);
    else lo = rolled ? rangeEnd(layout.dataKey(from.after)) : Buffer.concat([bytes(from.after), Buffer.from([0])]);
  }

  let revision = from?.revision ?? at;
  const items: ListItem[] = [];
  const prefixes: string[] = [];
  let last: string | undefined;
  let more = false;
  let started = false;
  const range = (request: Record<string, unknown>): Promise<EtcdRangeResponse> =>
    read(revision === undefined ? request : { ...request, revision: String(revision) }).then(
      (answer) => {
        started = true;
        return answer;
      },
      (err: unknown) => {
        if (
          !started &&
          from === undefined &&
          at !== undefined &&
          revision === at &&
          err instanceof EtcdError &&
          err.code === GRPC.outOfRange
        ) {
          // A first page at a revision etcd no longer holds (the node's copy is far behind): at etcd's current one.
          revision = undefined;
          return range(request);
        }
        throw expiredCursor(err, query);
      },
    );

  scan: while (Buffer.compare(lo, hi) < 0) {
    const answer = await range({
      key: lo.toString('base64'),
      range_end: hi.toString('base64'),
      limit: String(CHUNK),
      ...(reverse ? { sort_order: 'DESCEND', sort_target: 'KEY' } : {}),
    });
    revision ??= int(answer.header?.revision);
    const kvs = answer.kvs ?? [];
    for (const kv of kvs) {
      const etcdKey = Buffer.from(kv.key, 'base64');
      // The range left to read starts (or, in reverse, ends) after this key.
      if (reverse) hi = etcdKey;
      else lo = Buffer.concat([etcdKey, Buffer.from([0])]);
      const key = layout.keyOf(etcdKey);
      if (key === undefined) continue;
      const entry = decodeRecord(key, int(kv.mod_revision), Buffer.from(kv.value ?? '', 'base64'))?.entry;
      if (entry === undefined || entry.expiresAt <= now) continue;
      if (items.length + prefixes.length === limit) {
        more = true;
        break scan;
      }
      const rolled = rolledUp(key);
      if (rolled !== undefined) {
        prefixes.push(rolled);
        last = rolled;
        // Jump over the rest of the rolled-up prefix.
        if (reverse) hi = Buffer.from(layout.dataKey(rolled), 'utf8');
        else lo = rangeEnd(layout.dataKey(rolled));
        continue scan;
      }
      items.push(itemOf(entry, query.values));
      last = key;
    }
    if (answer.more !== true || kvs.length === 0) break;
  }

  let count: number | undefined;
  if (query.count && from === undefined) {
    const counted = await range({ key: whole.lo.toString('base64'), range_end: whole.hi.toString('base64'), count_only: true });
    count = Buffer.compare(whole.lo, whole.hi) < 0 ? Math.max(0, int(counted.count) - expiredIn(query)) : 0;
  }
  return {
    revision: revision ?? 0,
    items,
    prefixes,
    next: more && last !== undefined ? { revision: revision as number, after: last } : undefined,
    count,
  };
}

function itemOf(entry: Entry, values: boolean): ListItem {
  return {
    key: entry.key,
    version: entry.version,
    revision: entry.revision,
    createdAt: entry.createdAt,
    updatedAt: entry.updatedAt,
    expiresAt: entry.expiresAt,
    size: Buffer.byteLength(entry.value),
    value: values ? entry.value : undefined,
  };
}

/** A page asked at a revision etcd no longer holds (compacted), or does not hold yet, is cursor_expired. */
function expiredCursor(err: unknown, query: ListQuery): unknown {
  if (!(err instanceof EtcdError) || err.code !== GRPC.outOfRange || query.from === undefined) return err;
  return new StoreError('cursor_expired', {
    revision: query.from.revision,
    lastKey: query.from.after,
    why: /compacted/.test(err.message)
      ? 'etcd has compacted that revision (a listing lives as long as etcd holds its revision)'
      : 'etcd has not reached that revision',
  });
}
