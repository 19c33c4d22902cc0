import { afterAll, beforeAll, expect, it } from 'vitest';
import { EtcdStore } from '../src/store/etcd/etcd-store.js';
import type { ChangeBatch } from '../src/store/store.js';
import { StoreError } from '../src/store/store-error.js';
import { type EtcdCluster, startEtcdCluster } from './support/etcd-cluster.js';
import { openTcpGate } from './support/tcp-gate.js';

// etcd's storage quota is the store's: a cluster with a 1 MiB quota (--quota-backend-bytes)
// fills up, and kv_store answers insufficient_storage (507), naming etcd's reason; reads go on.
let cluster: EtcdCluster | undefined;
beforeAll(async () => {
  cluster = await startEtcdCluster({ extraArgs: ['--quota-backend-bytes', String(1_048_576)] });
  // Keys outside every store's prefix, for a test below to move etcd's revision with while its
  // quota is full (a delete is all etcd takes then), where no node's watch sees it.
  for (const key of ['outside/a', 'outside/b']) await gateway('/v3/kv/put', { key: b64(key), value: b64('1') });
});
afterAll(() => cluster?.close());

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** A call straight to etcd's gateway on the first member. */
async function gateway(path: string, body: unknown): Promise<{ header?: { revision?: string }; kvs?: unknown[] }> {
  const response = await fetch(`${cluster?.endpoints[0]}${path}`, { method: 'POST', body: JSON.stringify(body) });
  return (await response.json()) as { header?: { revision?: string }; kvs?: unknown[] };
}

it("a write past etcd's storage quota is insufficient_storage naming it; reads still work", async () => {
  const store = new EtcdStore({ connection: { endpoints: cluster?.endpoints ?? [] }, prefix: 'quota/' });
  try {
    await store.whenLive();
    const value = `"${'x'.repeat(100_000)}"`;
    let refused: unknown;
    let written = 0;
    for (let i = 0; i < 100 && refused === undefined; i++) {
      try {
        await store.create(`k${i}`, value);
        written++;
      } catch (err) {
        refused = err;
      }
    }
    expect(refused).toBeInstanceOf(StoreError);
    expect(refused).toMatchObject({ reason: 'insufficient_storage' });
    expect((refused as StoreError).message).toContain('database space exceeded');
    expect(written).toBeGreaterThan(0);
    expect(store.get('k0')).toMatchObject({ value });
    expect(await store.get('k0', { consistent: true })).toMatchObject({ value });
    // Unlike KV_MAX_KEYS, etcd's full quota refuses every write: an overwrite is a put, and a
    // delete writes the m/op marker with it (etcd frees space only once compacted and defragmented).
    await expect(store.replace('k0', '"small"')).rejects.toMatchObject({ reason: 'insufficient_storage' });
    await expect(store.delete('k0')).rejects.toMatchObject({ reason: 'insufficient_storage' });
    expect(await store.get('k0', { consistent: true })).toMatchObject({ value, version: 1 });
    // A node that starts now cannot write m/sync either (etcd takes no put): it goes live on its
    // fresh load, and serves reads from its cache.
    const late = new EtcdStore({ connection: { endpoints: cluster?.endpoints ?? [] }, prefix: 'quota/' });
    try {
      late.start();
      await expect.poll(() => late.ready(), { timeout: 20_000, interval: 50 }).toEqual({ ok: true, reason: expect.any(String) });
      expect(late.get('k0')).toMatchObject({ value });
      expect(late.get(`k${written - 1}`)).toMatchObject({ value });
    } finally {
      await late.close();
    }
  } finally {
    await store.close();
  }
});

it("a node whose watch reconnects while etcd's quota is full loads the keyspace again and serves from its cache", async () => {
  // After the test above, etcd's NOSPACE alarm is up: no put is taken.
  const gate = await openTcpGate(cluster?.endpoints[0] as string);
  const store = new EtcdStore({ connection: { endpoints: [gate.url] }, prefix: 'quota/' });
  try {
    await store.whenLive();
    await expect(store.create('one-more', '1')).rejects.toMatchObject({ reason: 'insufficient_storage' });
    const before = store.get('k0');
    expect(before).toMatchObject({ version: 1 });
    expect(store.get('k1')).toMatchObject({ version: 1 });
    const announced: ChangeBatch[] = [];
    store.subscribe((batch) => {
      announced.push(batch);
    });
    gate.cut();
    await expect.poll(() => store.ready().ok, { timeout: 20_000, interval: 50 }).toBe(false);
    // etcd still takes a delete: one made while the node is cut off reaches it through the load.
    const deleted = await fetch(`${cluster?.endpoints[0]}/v3/kv/deleterange`, {
      method: 'POST',
      body: JSON.stringify({ key: Buffer.from('quota/d/k1').toString('base64') }),
    });
    expect(((await deleted.json()) as { deleted?: string }).deleted).toBe('1');
    await gate.restore();
    await expect.poll(() => store.ready(), { timeout: 20_000, interval: 50 }).toEqual({ ok: true, reason: expect.any(String) });
    expect(store.get('k0')).toEqual(before);
    expect(store.get('k1')).toBeUndefined();
    expect(announced.flatMap((batch) => batch.changes)).toEqual([
      { type: 'delete', key: 'k1', revision: expect.any(Number), reason: 'delete', prev: expect.objectContaining({ version: 1 }) },
    ]);
  } finally {
    await store.close();
    await gate.close();
  }
});

it("a node asked for a revision it has not seen catches up while etcd's quota is full, by deleting m/sync; once that is gone, 503", async () => {
  // After the tests above, etcd's NOSPACE alarm is up, and m/sync is there (written by the first
  // node before the quota filled). A delete outside the prefix moves etcd's revision past what
  // the node's watch will ever bring: a client that saw that revision on another node asks this
  // one to catch up to it (a watch or listing from it).
  const store = new EtcdStore({ connection: { endpoints: cluster?.endpoints ?? [] }, prefix: 'quota/' });
  try {
    await store.whenLive();
    const first = Number((await gateway('/v3/kv/deleterange', { key: b64('outside/a') })).header?.revision);
    expect(store.revision).toBeLessThan(first);
    // Two at once (two clients failing over with the same Last-Event-ID): one delete deletes
    // m/sync, the other nothing, and both wait for the revision the first one made.
    await expect(Promise.all([store.catchUp(first), store.catchUp(first)])).resolves.toEqual([true, true]);
    expect(store.revision).toBeGreaterThan(first);
    expect(await gateway('/v3/kv/range', { key: b64('quota/m/sync') })).not.toHaveProperty('kvs');
    // m/sync gone, nothing can move the watch: said as 503 with what an operator must do, not as
    // the 507 of a write refused.
    const second = Number((await gateway('/v3/kv/deleterange', { key: b64('outside/b') })).header?.revision);
    const refused = await store.catchUp(second).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(StoreError);
    expect(refused).toMatchObject({ reason: 'backend_unavailable' });
    expect((refused as StoreError).message).toMatch(
      /has not seen revision \d+ yet, and etcd takes no write while its storage quota is full.*disarm its NOSPACE alarm/,
    );
  } finally {
    await store.close();
  }
});

it('writes made at the same moment (one etcd Txn, write-batcher.ts) are held to the quota too', async () => {
  // A cluster of its own: the quota must start empty (etcd lets a Txn that it charges nothing
  // past its quota check, and past its NOSPACE alarm: both are checked here).
  const own = await startEtcdCluster({ extraArgs: ['--quota-backend-bytes', String(1_048_576)] });
  const store = new EtcdStore({ connection: { endpoints: own.endpoints }, prefix: 'quota-batched/' });
  try {
    await store.whenLive();
    // 20 KB each: a batch holds several (its keys and values up to 128 KiB in base64).
    const value = `"${'y'.repeat(20_000)}"`;
    const acknowledged: string[] = [];
    const refusals: unknown[] = [];
    // Rounds of eight creates at once, until a round has a refusal (100 rounds would be 16 MB).
    for (let round = 0; round < 100 && refusals.length === 0; round++) {
      const keys = Array.from({ length: 8 }, (_, i) => `r${round}-${i}`);
      const results = await Promise.allSettled(keys.map((key) => store.create(key, value)));
      for (const [i, result] of results.entries()) {
        if (result.status === 'fulfilled') acknowledged.push(keys[i] as string);
        else refusals.push(result.reason);
      }
    }
    expect(refusals.length).toBeGreaterThan(0);
    for (const refusal of refusals) expect(refusal).toMatchObject({ reason: 'insufficient_storage' });
    // etcd's NOSPACE alarm is up now: a whole round is refused.
    const again = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => store.create(`again-${i}`, value)));
    expect(again.map((r) => (r.status === 'rejected' ? (r.reason as StoreError).reason : 'written'))).toEqual(
      Array(8).fill('insufficient_storage'),
    );
    for (const key of acknowledged) expect(await store.get(key, { consistent: true })).toMatchObject({ value });
  } finally {
    await store.close();
    await own.close();
  }
});
