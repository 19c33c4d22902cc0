import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { EtcdCalls } from '../src/store/etcd/etcd-calls.js';
import { EtcdError, type EtcdTxnResponse, GRPC } from '../src/store/etcd/etcd-wire.js';
import { EtcdGrpc } from '../src/store/etcd/etcd-grpc.js';
import { EtcdStore, type EtcdStoreOptions } from '../src/store/etcd/etcd-store.js';
import type { EtcdTxnRequest } from '../src/store/etcd/etcd-txn.js';
import { WriteBatcher } from '../src/store/etcd/write-batcher.js';
import type { ChangeBatch, Entry } from '../src/store/store.js';
import { StoreError } from '../src/store/store-error.js';
import { FakeClock } from './helpers.js';
import { type EtcdCluster, startEtcdCluster } from './support/etcd-cluster.js';
import { openTcpGate } from './support/tcp-gate.js';

// What the etcd engine adds to the port's contract (store-etcd.test.ts): several nodes on one
// store, the node cache, leases, consistency across nodes, and etcd going away and coming back.
// One real three-member cluster for the file; every test its own prefix (its own store).
let cluster: EtcdCluster | undefined;
beforeAll(async () => {
  cluster = await startEtcdCluster();
});
afterAll(() => cluster?.close());

let prefixes = 0;
const HANG_GUARD_MS = 15_000;

function endpoints(): string[] {
  if (cluster === undefined) throw new Error('no etcd cluster');
  return cluster.endpoints;
}

/** A node on `prefix` (a new one by default), live; closed when the test finishes. */
async function node(options: Partial<EtcdStoreOptions> & { prefix?: string } = {}): Promise<EtcdStore> {
  const prefix = options.prefix ?? `node-${++prefixes}/`;
  const store = new EtcdStore({ connection: { endpoints: endpoints() }, ...options, prefix });
  prefixOfStore.set(store, prefix);
  onTestFinished(() => store.close());
  await store.whenLive();
  return store;
}

const prefixOfStore = new WeakMap<EtcdStore, string>();
/** The prefix a node of this file was made on. */
function prefixOf(store: EtcdStore): string {
  return prefixOfStore.get(store) as string;
}

/** Two live nodes on one new store; the second talks to the members in the other order. */
async function twoNodes(options: Partial<EtcdStoreOptions> = {}): Promise<[EtcdStore, EtcdStore]> {
  const prefix = `pair-${++prefixes}/`;
  const a = await node({ prefix, ...options });
  const b = await node({ prefix, connection: { endpoints: [...endpoints()].reverse() }, ...options });
  return [a, b];
}

/** Resolves with the first batch `store` announces that `match` accepts (hang guard: rejects after HANG_GUARD_MS). */
function nextBatch(store: EtcdStore, match: (batch: ChangeBatch) => boolean): Promise<ChangeBatch> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error('no such batch within the hang guard'));
    }, HANG_GUARD_MS);
    const unsubscribe = store.subscribe((batch) => {
      if (!match(batch)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(batch);
    });
  });
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** etcd's JSON gateway, straight (for what the test checks behind the store's back). */
async function etcd(path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${endpoints()[0]}${path}`, { method: 'POST', body: JSON.stringify(body) });
  return (await response.json()) as Record<string, unknown>;
}

describe('several nodes on one store', () => {
  it('every node reports the store id kept in etcd; another prefix is another store', async () => {
    const [a, b] = await twoNodes();
    const other = await node();
    expect(a.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(b.id).toBe(a.id);
    expect(other.id).not.toBe(a.id);
  });

  it('a write through one node reaches the other: at once for a consistent read, and on its watch', async () => {
    const [a, b] = await twoNodes();
    const seen = nextBatch(b, (batch) => batch.changes.some((c) => c.key === 'k'));
    const written = await a.create('k', '{"from": "a"}');
    expect(await b.get('k', { consistent: true })).toEqual(written);
    expect(await seen).toEqual({ revision: written.revision, changes: [{ type: 'put', ...written, prev: null }] });
    expect(await b.get('k')).toEqual(written);
    expect(b.revision).toBeGreaterThanOrEqual(written.revision);
  });

  it('consistent reads made at the same moment (one Txn of ranges): each gets its own key, an absent key none', async () => {
    const [a, b] = await twoNodes();
    const written = [];
    for (let i = 0; i < 20; i++) written.push(await a.create(`same/${i}`, `{"n": ${i}}`));
    const keys = [...written.map((e) => e.key), 'same/absent'];
    const read = await Promise.all(keys.map((key) => b.get(key, { consistent: true })));
    expect(read).toEqual([...written, undefined]);
  });

  it('a node reads its own writes at once from its cache (read-your-writes)', async () => {
    const [a] = await twoNodes();
    for (let i = 0; i < 20; i++) {
      const written = await a.replace('k', String(i)).catch((err: unknown) => {
        if (err instanceof StoreError && err.reason === 'key_not_found') return a.create('k', String(i));
        throw err;
      });
      const read = a.get('k');
      expect(read).not.toBeInstanceOf(Promise);
      expect(read).toEqual(written);
    }
  });

  it('a create race through both nodes has exactly one winner, every time', async () => {
    const [a, b] = await twoNodes();
    for (let round = 0; round < 20; round++) {
      const key = `race-${round}`;
      const results = await Promise.allSettled([a.create(key, '"a"'), b.create(key, '"b"')]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost.map((r) => (r as PromiseRejectedResult).reason)).toEqual([expect.objectContaining({ reason: 'key_exists' })]);
      const winner = (won[0] as PromiseFulfilledResult<Entry>).value;
      expect(await a.get(key, { consistent: true })).toEqual(winner);
    }
  });

  it('an If-Match chain alternates nodes: each write names the revision the other node answered', async () => {
    const [a, b] = await twoNodes();
    let entry = await a.create('chain', '0');
    for (let i = 1; i <= 20; i++) {
      const through = i % 2 === 0 ? a : b;
      entry = await through.replace('chain', String(i), { conditions: { ifMatch: [{ tag: String(entry.revision), weak: false }] } });
      expect(entry).toMatchObject({ value: String(i), version: i + 1 });
    }
    // A stale tag is refused on either node, naming the current revision.
    await expect(
      b.replace('chain', 'x', { conditions: { ifMatch: [{ tag: String(entry.revision - 1), weak: false }] } }),
    ).rejects.toMatchObject({
      reason: 'version_mismatch',
      details: { actualTag: String(entry.revision) },
    });
  });

  it('concurrent unconditional writes through both nodes: every one applied exactly once, versions without gaps', async () => {
    const [a, b] = await twoNodes();
    await a.create('counter', '0');
    const writes = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).replace('counter', String(i)));
    const entries = await Promise.all(writes);
    expect(new Set(entries.map((e) => e.revision)).size).toBe(40);
    expect(entries.map((e) => e.version).sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 2));
    const last = entries.reduce((x, y) => (y.revision > x.revision ? y : x));
    expect(await b.get('counter', { consistent: true })).toEqual(last);
  });

  it("deletes and transactions carry their reason to the other node's watchers", async () => {
    const [a, b] = await twoNodes();
    await a.create('d', '1');
    await a.create('t', '1');
    const deleted = nextBatch(b, (batch) => batch.changes.some((c) => c.key === 'd' && c.type === 'delete'));
    await a.delete('d');
    expect((await deleted).changes).toEqual([expect.objectContaining({ type: 'delete', key: 'd', reason: 'delete' })]);
    const txn = nextBatch(b, (batch) => batch.changes.some((c) => c.key === 't' && c.type === 'delete'));
    await a.txn({
      checks: [],
      ops: [
        { op: 'delete', key: 't' },
        { op: 'set', key: 'u', value: '2' },
      ],
    });
    expect((await txn).changes).toEqual([
      expect.objectContaining({ type: 'delete', key: 't', reason: 'txn' }),
      expect.objectContaining({ type: 'put', key: 'u', value: '2', reason: 'txn' }),
    ]);
  });
});

describe('listing and history across nodes', () => {
  it("a listing's pages are one revision, whichever node serves each page and whatever is written meanwhile", async () => {
    const [a, b] = await twoNodes();
    for (let i = 0; i < 10; i++) await a.create(`k${i}`, String(i));
    const query = { prefix: 'k', limit: 3, reverse: false, values: true, count: true };
    const first = await a.list(query);
    expect(first.count).toBe(10);
    const pages = [first];
    for (let i = 0; pages.at(-1)?.next !== undefined; i++) {
      await (i % 2 === 0 ? a : b).replace(`k${9 - i}`, '"changed"');
      await b.create(`k${i}x`, '"new"');
      const through = i % 2 === 0 ? b : a;
      pages.push(await through.list({ ...query, from: pages.at(-1)?.next }));
    }
    expect(pages.every((p) => p.revision === first.revision)).toBe(true);
    expect(pages.flatMap((p) => p.items.map((item) => [item.key, item.value]))).toEqual(
      Array.from({ length: 10 }, (_, i) => [`k${i}`, String(i)]),
    );
  });

  it("a listing is at the node's own revision, so a watch from it needs nothing the node has not seen, unless consistent; a node catches up with a revision written elsewhere in etcd", async () => {
    const a = await node();
    const elsewhere = await node();
    await a.create('k', '1');
    const written = await elsewhere.create('x', '1'); // etcd's revision moves, nothing under a's prefix does
    const page = await a.list({ prefix: '', limit: 10, reverse: false, values: false, count: false });
    expect(page.revision).toBe(a.revision);
    expect(page.revision).toBeLessThan(written.revision);
    expect(await a.changesSince(page.revision, 10)).toEqual([]);
    // consistent: true starts the listing at etcd's current revision, past the node's cache.
    const consistent = await a.list({ prefix: '', limit: 10, reverse: false, values: true, count: true, consistent: true });
    expect(consistent.revision).toBeGreaterThanOrEqual(written.revision);
    expect({ items: consistent.items.map((i) => [i.key, i.value]), count: consistent.count }).toEqual({ items: [['k', '1']], count: 1 });
    expect(await a.catchUp(written.revision)).toBe(true);
    expect(a.revision).toBeGreaterThanOrEqual(written.revision);
    expect(await a.catchUp(written.revision + 1_000_000)).toBe(false);
  });

  it('after etcd compacts, an old cursor is cursor_expired and an old watch position history_compacted naming the oldest revision', async () => {
    const [a, b] = await twoNodes();
    // b lists at the revision its cache has reached: it must have seen all four keys first.
    const caughtUp = nextBatch(b, (batch) => batch.changes.some((c) => c.key === 'k3'));
    for (let i = 0; i < 4; i++) await a.create(`k${i}`, String(i));
    await caughtUp;
    const page = await b.list({ prefix: '', limit: 2, reverse: false, values: false, count: false });
    expect(page.next).toBeDefined();
    const start = page.revision;
    const last = await a.replace('k0', '"after"');
    await etcd('/v3/kv/compaction', { revision: String(last.revision), physical: true });
    await expect(a.list({ prefix: '', limit: 2, reverse: false, values: false, count: false, from: page.next })).rejects.toMatchObject({
      reason: 'cursor_expired',
      details: { revision: start, lastKey: 'k1' },
    });
    expect(await b.changesSince(1, 10)).toEqual({ compacted: true, oldestRevision: last.revision });
    // What the node's own ring still holds is served as before.
    expect(await a.changesSince(last.revision - 1, 10)).toEqual([expect.objectContaining({ revision: last.revision })]);
  });
});

describe('TTLs on shared leases', () => {
  it("a key is hidden from its expiresAt on, and etcd's lease removes it later as a delete with reason expired", async () => {
    const clock = new FakeClock(Date.now());
    const [a, b] = await twoNodes({ clock });
    const written = await a.create('short', '1', { ttlMs: 1000 });
    expect(a.get('short')).toEqual(written);
    const expired = nextBatch(b, (batch) => batch.changes.some((c) => c.key === 'short' && c.type === 'delete'));
    clock.advance(1000);
    expect(a.get('short')).toBeUndefined();
    expect(await a.get('short', { consistent: true })).toBeUndefined();
    await expect(a.replace('short', '2')).rejects.toMatchObject({ reason: 'key_not_found' });
    // The lease's own time is real: etcd removes the key a few seconds later.
    const batch = await expired;
    expect(batch.changes).toEqual([
      {
        type: 'delete',
        key: 'short',
        revision: batch.revision,
        reason: 'expired',
        prev: { value: '1', version: 1, revision: written.revision },
      },
    ]);
    expect(batch.revision).toBeGreaterThan(written.revision);
    expect(b.stats().expiredTotal).toBe(1);
    // The history holds it as the feed announced it, from the node's ring and read back from etcd alike.
    const fromRing = await b.changesSince(written.revision, 10);
    // A node started after both holds neither: it reads them back from etcd.
    const late = await node({ prefix: prefixOf(a) });
    const fromEtcd = await late.changesSince(written.revision - 1, 10);
    expect(fromRing).toEqual([batch]);
    expect(fromEtcd).toEqual([{ revision: written.revision, changes: [{ type: 'put', ...written, prev: null }] }, batch]);
  });

  it('a key created again over an expired one that etcd still holds is version 1', async () => {
    const clock = new FakeClock(Date.now());
    const prefix = `again-${++prefixes}/`;
    const a = await node({ prefix, clock, leaseSlackMs: 600_000 });
    await a.create('k', '1', { ttlMs: 1000 });
    await a.replace('k', '2', { ttlMs: 1000 });
    clock.advance(1000);
    const again = await a.create('k', '3');
    expect(again).toMatchObject({ value: '3', version: 1, expiresAt: Number.POSITIVE_INFINITY });
    const range = await etcd('/v3/kv/range', { key: Buffer.from(`${prefix}d/k`).toString('base64') });
    expect((range.kvs as { version: string }[])[0]?.version).toBe('3');
  });

  it('keys that expire in the same second share one lease; a million such keys would too', async () => {
    const before = ((await etcd('/v3/lease/leases', {})).leases as unknown[] | undefined)?.length ?? 0;
    const a = await node();
    const now = Date.now();
    await Promise.all(Array.from({ length: 50 }, (_, i) => a.create(`ttl-${i}`, '1', { ttlMs: 60_000 - (now % 1000) + 500 })));
    const after = ((await etcd('/v3/lease/leases', {})).leases as unknown[] | undefined)?.length ?? 0;
    expect(after - before).toBeLessThanOrEqual(2);
  });
  it('a write whose shared lease etcd has revoked meanwhile takes a new lease and succeeds', async () => {
    const prefix = `revoked-${++prefixes}/`;
    const a = await node({ prefix });
    const leaseOf = async (key: string) =>
      (
        (await etcd('/v3/kv/range', { key: Buffer.from(`${prefix}d/${key}`).toString('base64') })).kvs as { lease?: string }[] | undefined
      )?.[0]?.lease;
    const expiresAt = Math.ceil(Date.now() / 1000) * 1000 + 30_000;
    await a.create('first', '1', { ttlMs: expiresAt - Date.now() });
    const revoked = await leaseOf('first');
    expect(revoked).toEqual(expect.any(String));
    await etcd('/v3/lease/revoke', { ID: revoked });
    const second = await a.create('second', '2', { ttlMs: expiresAt - Date.now() });
    expect(second).toMatchObject({ value: '2', version: 1 });
    const lease = await leaseOf('second');
    expect(lease).toEqual(expect.any(String));
    expect(lease).not.toBe(revoked);
  });
});

describe('writes made at the same moment share one etcd Txn (write-batcher.ts)', () => {
  it('twenty creates at once commit at one revision; every answer, read and watcher agrees', async () => {
    const [a, b] = await twoNodes();
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    const announced = nextBatch(b, (batch) => batch.changes.length > 0);
    // Each create plans on a's cache and queues its Txn within this turn of the event loop (no
    // TTL, so no lease to ask etcd for first): the batcher sends them all in its next turn.
    const written = await Promise.all(keys.map((key) => a.create(key, `"${key}"`)));
    const revision = written[0]?.revision;
    expect(written).toEqual(
      keys.map((key) => ({
        key,
        value: `"${key}"`,
        version: 1,
        revision,
        createdAt: expect.any(Number),
        updatedAt: expect.any(Number),
        expiresAt: Number.POSITIVE_INFINITY,
      })),
    );
    const batch = await announced;
    expect(batch).toEqual({ revision, changes: written.map((entry) => ({ type: 'put', ...entry, prev: null })) });
    for (const [i, key] of keys.entries()) expect(await b.get(key, { consistent: true })).toEqual(written[i]);
    // A write made after they were answered is a revision of its own.
    expect((await a.create('after', '1')).revision).toBeGreaterThan(revision as number);
  });

  it('writes of one key at once are never in one batch: each commits in turn, on the one before', async () => {
    const a = await node();
    await a.create('counter', '0');
    const results = await Promise.all(['1', '2', '3'].map((value) => a.replace('counter', value)));
    expect(results.map((entry) => [entry.value, entry.version])).toEqual([
      ['1', 2],
      ['2', 3],
      ['3', 4],
    ]);
    expect(new Set(results.map((entry) => entry.revision)).size).toBe(3);
    expect(await a.get('counter', { consistent: true })).toEqual(results[2]);
  });

  it('writes still queued when the node closes are refused 503 without being sent', async () => {
    const prefix = `closing-${++prefixes}/`;
    const a = await node({ prefix });
    const pending = Array.from({ length: 5 }, (_, i) => a.create(`late-${i}`, '1'));
    const closing = a.close();
    const results = await Promise.allSettled(pending);
    await closing;
    for (const result of results) {
      expect(result).toMatchObject({
        status: 'rejected',
        reason: { reason: 'backend_unavailable', message: expect.stringContaining('was not sent') },
      });
    }
    expect((await etcd('/v3/kv/range', { key: b64(`${prefix}d/`), range_end: b64(`${prefix}d0`) })).kvs).toBeUndefined();
  });
});

describe('the batcher against etcd itself', () => {
  /** A create-only Txn of `key` (a raw etcd key), reading it back when it exists. */
  const createTxn = (key: string, value: string, lease?: string): EtcdTxnRequest => ({
    compare: [{ key: b64(key), target: 'MOD', result: 'EQUAL', mod_revision: '0' }],
    success: [{ request_put: lease === undefined ? { key: b64(key), value: b64(value) } : { key: b64(key), value: b64(value), lease } }],
    failure: [{ request_range: { key: b64(key) } }],
  });
  /** A batcher whose batches write `<prefix>m/batch`, as a node's on that prefix do. */
  function batcher(prefix: string): WriteBatcher {
    const etcd = new EtcdGrpc({ endpoints: endpoints() });
    onTestFinished(() => etcd.close());
    return new WriteBatcher(new EtcdCalls(etcd, 10_000, () => false), { key: `${prefix}m/batch`, value: 'test-node' });
  }
  const readBack = (answer: EtcdTxnResponse) => {
    const kv = answer.responses?.[0]?.response_range?.kvs?.[0];
    return kv === undefined ? undefined : Buffer.from(kv.value ?? '', 'base64').toString();
  };

  it('a write whose compare fails in a batch gets its own failure and fresh read; the others are applied at one revision', async () => {
    const prefix = `raw-${++prefixes}/`;
    await etcd('/v3/kv/put', { key: b64(`${prefix}taken`), value: b64('before') });
    const writes = batcher(prefix);
    const outcomes = [{ ambiguous: false }, { ambiguous: false }, { ambiguous: false }];
    const [taken, x, y] = await Promise.all([
      writes.send(createTxn(`${prefix}taken`, 'again'), outcomes[0] as { ambiguous: boolean }),
      writes.send(createTxn(`${prefix}x`, 'x'), outcomes[1] as { ambiguous: boolean }),
      writes.send(createTxn(`${prefix}y`, 'y'), outcomes[2] as { ambiguous: boolean }),
    ]);
    expect(taken?.succeeded).toBeUndefined();
    expect(readBack(taken as EtcdTxnResponse)).toBe('before');
    expect(x?.succeeded).toBe(true);
    expect(y?.succeeded).toBe(true);
    expect(x?.header?.revision).toBe(y?.header?.revision);
    expect(taken?.header?.revision).toBe(x?.header?.revision);
    expect(outcomes).toEqual([{ ambiguous: false }, { ambiguous: false }, { ambiguous: false }]);
    // The batch's top-level put, which etcd charges to its quota, at the same revision.
    const marker = await etcd('/v3/kv/range', { key: b64(`${prefix}m/batch`) });
    expect(marker.kvs).toEqual([expect.objectContaining({ value: b64('test-node'), mod_revision: x?.header?.revision })]);
    const range = await etcd('/v3/kv/range', { key: b64(`${prefix}x`), range_end: b64(`${prefix}z`) });
    expect(
      (range.kvs as { key: string; mod_revision: string }[]).map((kv) => [Buffer.from(kv.key, 'base64').toString(), kv.mod_revision]),
    ).toEqual([
      [`${prefix}x`, x?.header?.revision],
      [`${prefix}y`, y?.header?.revision],
    ]);
  });

  it('a batch etcd refuses (a revoked lease in it) is sent again write by write: only that write gets the refusal', async () => {
    const prefix = `refused-${++prefixes}/`;
    const granted = await etcd('/v3/lease/grant', { TTL: 60 });
    await etcd('/v3/lease/revoke', { ID: granted.ID });
    const writes = batcher(prefix);
    const results = await Promise.allSettled([
      writes.send(createTxn(`${prefix}a`, 'a'), { ambiguous: false }),
      writes.send(createTxn(`${prefix}leased`, 'l', granted.ID as string), { ambiguous: false }),
      writes.send(createTxn(`${prefix}b`, 'b'), { ambiguous: false }),
    ]);
    expect(results[1]).toMatchObject({ status: 'rejected', reason: expect.any(EtcdError) });
    expect(((results[1] as PromiseRejectedResult).reason as EtcdError).code).toBe(GRPC.notFound);
    const [a, , b] = results.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
    expect(a?.succeeded).toBe(true);
    expect(b?.succeeded).toBe(true);
    // Sent alone, each at a revision of its own.
    expect(a?.header?.revision).not.toBe(b?.header?.revision);
    const range = await etcd('/v3/kv/range', { key: b64(prefix), range_end: b64(`${prefix}~`) });
    expect((range.kvs as { key: string }[]).map((kv) => Buffer.from(kv.key, 'base64').toString())).toEqual([`${prefix}a`, `${prefix}b`]);
  });

  it('two Txns writing one key go in two batches, in the order they came', async () => {
    const prefix = `twice-${++prefixes}/`;
    const put = (value: string): EtcdTxnRequest => ({
      compare: [],
      success: [{ request_put: { key: b64(`${prefix}k`), value: b64(value) } }],
      failure: [],
    });
    const writes = batcher(prefix);
    const [first, other, second] = await Promise.all([
      writes.send(put('1'), { ambiguous: false }),
      writes.send(createTxn(`${prefix}other`, 'o'), { ambiguous: false }),
      writes.send(put('2'), { ambiguous: false }),
    ]);
    expect(first?.header?.revision).toBe(other?.header?.revision);
    expect(Number(second?.header?.revision)).toBeGreaterThan(Number(first?.header?.revision));
    const range = await etcd('/v3/kv/range', { key: b64(`${prefix}k`) });
    expect(range.kvs).toEqual([expect.objectContaining({ value: b64('2'), version: '2', mod_revision: second?.header?.revision })]);
  });
});

describe('limits of etcd, as the contract says them', () => {
  it("a value over etcd's request size is value_too_large, and nothing is written", async () => {
    const a = await node();
    const big = `"${'x'.repeat(1_700_000)}"`;
    const err = await a.create('big', big).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ reason: 'value_too_large' });
    expect((err as StoreError).message).toContain('--max-request-bytes');
    expect(await a.get('big', { consistent: true })).toBeUndefined();
  });

  it("a transaction past etcd's --max-txn-ops is too_many_ops, and nothing is written", async () => {
    const a = await node();
    const ops = Array.from({ length: 128 }, (_, i) => ({ op: 'set' as const, key: `k${i}`, value: '1' }));
    await expect(a.txn({ checks: [], ops })).rejects.toMatchObject({ reason: 'too_many_ops' });
    expect(await a.get('k0', { consistent: true })).toBeUndefined();
  });
});

describe('etcd out of reach', () => {
  it('a node cut off from etcd answers 503 backend_unavailable and says so in ready(); it recovers by itself', async () => {
    const gate = await openTcpGate(endpoints()[0] as string);
    onTestFinished(() => gate.close());
    const prefix = `gate-${++prefixes}/`;
    const a = await node({ prefix, connection: { endpoints: [gate.url] } });
    await a.create('k', '1');
    expect(a.ready()).toEqual({ ok: true, reason: expect.any(String) });
    gate.cut();
    await expect.poll(() => a.ready().ok, { timeout: HANG_GUARD_MS }).toBe(false);
    await expect(Promise.resolve().then(() => a.get('k'))).rejects.toMatchObject({ reason: 'backend_unavailable' });
    await expect(a.replace('k', '2')).rejects.toMatchObject({ reason: 'backend_unavailable' });
    expect(a.ready()).toEqual({ ok: false, reason: expect.stringContaining('etcd') });
    await gate.restore();
    await a.whenLive();
    expect(a.ready().ok).toBe(true);
    expect(await a.get('k')).toMatchObject({ value: '1' });
    expect(await a.replace('k', '2')).toMatchObject({ value: '2', version: 2 });
  });

  it('a node whose watch missed history etcd has compacted loads the keyspace again and tells its watchers the difference', async () => {
    const gate = await openTcpGate(endpoints()[0] as string);
    onTestFinished(() => gate.close());
    const prefix = `compact-${++prefixes}/`;
    const a = await node({ prefix, connection: { endpoints: [gate.url] } });
    const b = await node({ prefix });
    await b.create('stays', '1');
    await b.create('goes', '1');
    await expect.poll(() => a.get('goes'), { timeout: HANG_GUARD_MS }).toMatchObject({ value: '1' });
    gate.cut();
    await b.replace('stays', '2');
    await b.delete('goes');
    const created = await b.create('new', '3');
    await etcd('/v3/kv/compaction', { revision: String(created.revision), physical: true });
    const reloaded = nextBatch(a, (batch) => batch.changes.some((c) => c.key === 'new'));
    await gate.restore();
    const batch = await reloaded;
    expect(batch.revision).toBeGreaterThanOrEqual(created.revision);
    expect(batch.changes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'put', key: 'stays', value: '2' }),
        expect.objectContaining({ type: 'put', key: 'new', value: '3' }),
        expect.objectContaining({ type: 'delete', key: 'goes' }),
      ]),
    );
    await a.whenLive();
    expect(a.get('goes')).toBeUndefined();
    expect(a.get('new')).toEqual(created);
  });
});
