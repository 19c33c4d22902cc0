import { describe, expect, it } from 'vitest';
import { KeyspaceCache } from '../src/store/etcd/keyspace-cache.js';
import { EtcdLayout, encodeMarker, encodeRecord } from '../src/store/etcd/stored-record.js';
import { DEFAULT_HISTORY } from '../src/store/memory/memory-store.js';
import { NEVER } from '../src/store/store.js';

// A node looks for a write etcd did not answer by its write id (etcd-commit.ts, findApplied):
// on the watch, and also in a load of the keyspace, when its watch had to load again (etcd
// compacted the history it needed, or etcd's quota is full) and so never saw the write's event.

const b64 = (text: string) => Buffer.from(text).toString('base64');
const layout = new EtcdLayout('p/');

/** A stored record of `key` as etcd holds it, written by `write` at `revision`. */
function record(key: string, write: string, revision: number) {
  const entry = { value: '1', version: 1, createdAt: 1000, updatedAt: 1000, expiresAt: NEVER };
  return { key: b64(layout.dataKey(key)), value: b64(encodeRecord(entry, write)), mod_revision: String(revision) };
}

describe('the node cache, loaded again', () => {
  it('settles a write the node is waiting for when the load holds its record, or the m/op marker it wrote', () => {
    const cache = new KeyspaceCache(layout, DEFAULT_HISTORY);
    cache.load([], 5);
    const put = cache.expectWrite('node:1');
    const deleted = cache.expectWrite('node:2');
    const neither = cache.expectWrite('node:3');
    // The three were on their way when etcd answered the load's first read.
    const exposed = cache.unsettled();
    // One sent after that answer: applied after the load's revision if at all, where the watch finds it.
    const later = cache.expectWrite('node:4');
    cache.load(
      [
        record('a', 'node:1', 7),
        record('b', 'other:9', 8),
        { key: b64(layout.opKey), value: b64(encodeMarker({ reason: 'delete', write: 'node:2' })), mod_revision: '9' },
      ],
      9,
      exposed,
    );
    expect([put.revision, deleted.revision, neither.revision, later.revision]).toEqual([7, 9, undefined, undefined]);
    expect(cache.raw('a')).toMatchObject({ key: 'a', value: '1', revision: 7 });
    // Neither found: not applied, or applied and replaced before the load's revision.
    expect([put.lost, deleted.lost, neither.lost, later.lost]).toEqual([false, false, true, false]);
    expect(cache.unsettled()).toEqual([neither, later]);
  });

  it('marks the writes exposed to its first load too: a node takes writes before its cache is loaded', () => {
    const cache = new KeyspaceCache(layout, DEFAULT_HISTORY);
    const early = cache.expectWrite('node:1');
    cache.load([record('b', 'other:9', 8)], 9, cache.unsettled());
    expect(early).toMatchObject({ revision: undefined, lost: true });
  });
});

describe("the node cache's waits for a revision", () => {
  it('settle true when the revision is applied, false at their deadline or on close, each once, however many', async () => {
    const cache = new KeyspaceCache(layout, DEFAULT_HISTORY);
    cache.load([], 5);
    const settled: (boolean | undefined)[] = Array.from({ length: 1000 }, () => undefined);
    /** The one timer that checks the waits' deadlines, while there are waits. */
    const timer = () => (cache as unknown as { waiterTimer?: unknown }).waiterTimer;
    const waits = settled.map((_, i) =>
      cache.waitFor(6 + i, i % 2 === 0 ? 60_000 : 100).then((reached) => {
        settled[i] = reached;
      }),
    );
    expect(timer()).toBeDefined();
    await expect(cache.waitFor(5, 1)).resolves.toBe(true);
    cache.advance(505); // revisions 6-505: the first 500 waits
    await Promise.all(waits.slice(0, 500));
    expect(settled.slice(0, 500).every((reached) => reached === true)).toBe(true);
    // The odd ones of the rest give up after their 100 ms; the even ones wait on until the close.
    await Promise.all(waits.filter((_, i) => i >= 500 && i % 2 === 1));
    expect(settled.slice(500).map((reached, i) => (i % 2 === 1 ? reached : (reached ?? 'waiting')))).toEqual(
      settled.slice(500).map((_, i) => (i % 2 === 1 ? false : 'waiting')),
    );
    expect(timer()).toBeDefined();
    cache.close();
    await Promise.all(waits);
    expect(settled.slice(500).every((reached) => reached === false)).toBe(true);
    expect(timer()).toBeUndefined();
    // Once the last wait is settled by its revision, the timer stops too.
    const last = cache.waitFor(506, 60_000);
    expect(timer()).toBeDefined();
    cache.advance(506);
    await expect(last).resolves.toBe(true);
    expect(timer()).toBeUndefined();
  });

  it("time out on a clock the wall clock's steps do not move", async () => {
    const cache = new KeyspaceCache(layout, DEFAULT_HISTORY);
    cache.load([], 5);
    const realNow = Date.now;
    try {
      const wait = cache.waitFor(6, 100);
      Date.now = () => realNow() - 3_600_000; // NTP steps the clock back an hour
      await expect(wait).resolves.toBe(false);
    } finally {
      Date.now = realNow;
    }
  });
});
