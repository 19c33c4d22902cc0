/*
 * The change history (`changesSince`) of an etcd store is etcd's own: every revision etcd has
 * not compacted. A node keeps the newest batches it has seen in a bounded ring (ChangeHistory,
 * KV_WATCH_HISTORY and KV_WATCH_HISTORY_BYTES) and answers from it at once; a watcher that
 * resumes from further back is answered from etcd: a watch from the revision after it, with
 * each key's previous record (prev_kv), read up to where the ring begins and then closed. The
 * batches are built as the live ones are (change-records.ts), so they are the same.
 *
 * A revision etcd has compacted is HistoryCompacted with etcd's oldest revision: a range at
 * that revision tells whether it is (cheaply, at once), the watch then says from where.
 */

import type { ChangeBatch, HistoryCompacted } from '../store.js';
import { byRevision, changeOf } from './change-records.js';
import { b64, EtcdError, GRPC, int } from './etcd-wire.js';
import type { EtcdGrpc } from './etcd-grpc.js';
import { type EtcdLayout, rangeEnd } from './stored-record.js';

/** How long reading history back from etcd may take before it is 503 (a hang guard). */
const HISTORY_TIMEOUT_MS = 10_000;

/**
 * The batches after `after` up to `until` (inclusive), at most `limit` (0: only whether etcd
 * still holds them), read back from etcd; or HistoryCompacted. `until` must be a revision at or
 * before an event under the prefix that the watch will bring (the node's m/sync write ensures one).
 */
export async function historyFromEtcd(
  etcd: EtcdGrpc,
  layout: EtcdLayout,
  after: number,
  until: number,
  limit: number,
): Promise<readonly ChangeBatch[] | HistoryCompacted> {
  const compacted = await compactedAt(etcd, layout, after);
  if (compacted !== undefined) return { compacted: true, oldestRevision: compacted };
  if (limit === 0 || after >= until) return [];
  const batches: ChangeBatch[] = [];
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), HISTORY_TIMEOUT_MS);
  let done = false;
  let oldest: number | undefined;
  try {
    await etcd.watch(
      {
        create_request: {
          key: b64(layout.prefix),
          range_end: rangeEnd(layout.prefix).toString('base64'),
          start_revision: String(after + 1),
          prev_kv: true,
        },
      },
      abort.signal,
      (message) => {
        if (done) return;
        if (message.canceled === true) {
          oldest = int(message.compact_revision);
          done = true;
          abort.abort();
          return;
        }
        for (const revision of byRevision(layout, message.events ?? [])) {
          if (revision.revision > until) {
            done = true;
            break;
          }
          const changes = revision.data.flatMap((event) => changeOf(revision.revision, event, event.before, revision.marker) ?? []);
          if (changes.length > 0) batches.push({ revision: revision.revision, changes });
          if (revision.revision === until || batches.length >= limit) {
            done = true;
            break;
          }
        }
        if (done) abort.abort();
      },
    );
  } finally {
    clearTimeout(timer);
  }
  if (oldest !== undefined && oldest > 0) return { compacted: true, oldestRevision: oldest };
  if (!done) throw new EtcdError('ambiguous', 'reading the change history back from etcd took too long');
  return batches;
}

/** etcd's oldest revision when it no longer holds `after` + 1; undefined when it does. */
async function compactedAt(etcd: EtcdGrpc, layout: EtcdLayout, after: number): Promise<number | undefined> {
  try {
    await etcd.call('/v3/kv/range', { key: b64(layout.idKey), revision: String(after + 1), count_only: true });
    return undefined;
  } catch (err) {
    if (!(err instanceof EtcdError) || err.code !== GRPC.outOfRange || !/compacted/.test(err.message)) throw err;
  }
  // Compacted: a watch from there is cancelled at once with the oldest revision etcd holds.
  let oldest = after + 2;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), HISTORY_TIMEOUT_MS);
  try {
    await etcd.watch({ create_request: { key: b64(layout.idKey), start_revision: String(after + 1) } }, abort.signal, (message) => {
      if (message.canceled === true) {
        oldest = Math.max(oldest, int(message.compact_revision));
        abort.abort();
      }
    });
  } finally {
    clearTimeout(timer);
  }
  return oldest;
}
