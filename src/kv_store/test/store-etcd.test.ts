import { afterAll, beforeAll } from 'vitest';
import { EtcdStore } from '../src/store/etcd/etcd-store.js';
import { cachedEntryCost } from '../src/store/etcd/keyspace-cache.js';
import { type EtcdCluster, startEtcdCluster } from './support/etcd-cluster.js';
import { type StoreFactory, storeContract } from './store-contract.js';

// The store port's contract, unchanged, against the etcd engine on a real three-member cluster:
// one cluster for the file, a fresh prefix (a store of its own) for every test.
let cluster: EtcdCluster | undefined;
beforeAll(async () => {
  cluster = await startEtcdCluster();
});
afterAll(() => cluster?.close());

let stores = 0;
const factory: StoreFactory = async (clock, limits) => {
  if (cluster === undefined) throw new Error('no etcd cluster');
  const store = new EtcdStore({
    connection: { endpoints: cluster.endpoints },
    prefix: `contract-${++stores}/`,
    clock,
    limits,
    // The fake clock stands still while real time passes: leases that outlive the run keep
    // etcd from removing keys (and taking revisions) in the middle of a test.
    leaseSlackMs: 600_000,
  });
  await store.whenLive();
  return store;
};

storeContract('EtcdStore', factory, cachedEntryCost);
