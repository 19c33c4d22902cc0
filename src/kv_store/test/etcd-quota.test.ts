import { afterAll, beforeAll, expect, it } from 'vitest';
import { EtcdStore } from '../src/store/etcd/etcd-store.js';
import { StoreError } from '../src/store/store-error.js';
import { type EtcdCluster, startEtcdCluster } from './support/etcd-cluster.js';

// etcd's storage quota is the store's: a cluster with a 1 MiB quota (--quota-backend-bytes)
// fills up, and kv_store answers insufficient_storage (507), naming etcd's reason; reads go on.
let cluster: EtcdCluster | undefined;
beforeAll(async () => {
  cluster = await startEtcdCluster({ extraArgs: ['--quota-backend-bytes', String(1_048_576)] });
});
afterAll(() => cluster?.close());

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
  } finally {
    await store.close();
  }
});
