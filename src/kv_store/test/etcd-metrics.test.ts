import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { EtcdStore } from '../src/store/etcd/etcd-store.js';
import { JSON_HEADERS, listen } from './helpers.js';
import { type EtcdCluster, startEtcdCluster } from './support/etcd-cluster.js';
import { openTcpGate } from './support/tcp-gate.js';

// A node's view of etcd in GET /metrics (metrics/etcd-metrics.ts): its requests to etcd by call,
// their failures, the writes per batch, and its watch. A real cluster; the failures are real too:
// a member address that refuses connections, and a TCP gate cut between the node and etcd.
let cluster: EtcdCluster | undefined;
beforeAll(async () => {
  cluster = await startEtcdCluster();
});
afterAll(() => cluster?.close());

/** A kv_store over etcd at `endpoints` (a store of its own under `prefix`), on a free port. */
async function node(endpoints: readonly string[], prefix: string) {
  const store = new EtcdStore({ connection: { endpoints }, prefix });
  const app = buildApp({ config: loadConfig({ KV_LOG_LEVEL: 'silent' }), store });
  onTestFinished(() => app.close());
  const url = await listen(app);
  return { store, url };
}

/** The value of the sample `series` (a metric's name with its labels, as written) in /metrics, or undefined. */
async function sample(url: string, series: string): Promise<number | undefined> {
  const res = await fetch(`${url}/metrics`);
  const text = await res.text();
  expect(res.status, text).toBe(200);
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

describe("a node's metrics of etcd", () => {
  it('count its requests by call, the unreachable member it tried first, and the client writes per Txn', async () => {
    const dead = await openTcpGate(cluster?.endpoints[0] as string);
    dead.cut(); // refuses connections: a member that is down
    onTestFinished(() => dead.close());
    const { store, url } = await node([dead.url, ...(cluster?.endpoints ?? [])], 'metrics-1/');
    await store.whenLive();
    expect(await sample(url, 'kv_etcd_watch_live')).toBe(1);
    expect(await sample(url, 'kv_etcd_request_failures_total{call="range",failure="unreachable"}')).toBeGreaterThanOrEqual(1);
    expect(await sample(url, 'kv_etcd_request_duration_seconds_count{call="range"}')).toBeGreaterThanOrEqual(2);

    const statuses = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const res = await fetch(`${url}/v1/`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ key: `k${i}`, value: i }) });
        await res.arrayBuffer();
        return res.status;
      }),
    );
    expect(statuses).toEqual(Array.from({ length: 12 }, () => 201));
    // Every create went to etcd in one of the batcher's Txns: the writes they held add up to 12,
    // in at most 12 Txns, each timed.
    expect(await sample(url, 'kv_etcd_batch_writes_sum')).toBe(12);
    const txns = (await sample(url, 'kv_etcd_batch_writes_count')) as number;
    expect(txns).toBeGreaterThanOrEqual(1);
    expect(txns).toBeLessThanOrEqual(12);
    expect(await sample(url, 'kv_etcd_request_duration_seconds_count{call="txn"}')).toBeGreaterThanOrEqual(txns);
  });

  it('show the watch going down when etcd is cut off, and its restart when etcd is back', async () => {
    const gate = await openTcpGate(cluster?.endpoints[1] as string);
    onTestFinished(() => gate.close());
    const { store, url } = await node([gate.url], 'metrics-2/');
    await store.whenLive();
    expect(await sample(url, 'kv_etcd_watch_restarts_total{how="restart"}')).toBeUndefined();
    gate.cut();
    await expect.poll(() => sample(url, 'kv_etcd_watch_live'), { timeout: 20_000, interval: 50 }).toBe(0);
    // Cut off for a while: the tries to watch again that etcd never took are not restarts.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await gate.restore();
    await expect.poll(() => sample(url, 'kv_etcd_watch_live'), { timeout: 20_000, interval: 50 }).toBe(1);
    const restarts = await sample(url, 'kv_etcd_watch_restarts_total{how="restart"}');
    expect(restarts).toBeGreaterThanOrEqual(1);
    expect(restarts).toBeLessThanOrEqual(2);
  });

  it('never fail a request to etcd when the observer does: a metric is not worth a write', async () => {
    const store = new EtcdStore({ connection: { endpoints: cluster?.endpoints ?? [] }, prefix: 'metrics-3/' });
    onTestFinished(() => store.close());
    let calls = 0;
    store.observe({
      request() {
        calls++;
        throw new Error('observer broke');
      },
      batch() {
        throw new Error('observer broke');
      },
      watch() {
        throw new Error('observer broke');
      },
    });
    store.start();
    await store.whenLive();
    await expect(store.create('k', '1')).resolves.toMatchObject({ key: 'k', value: '1', version: 1 });
    await expect(store.replace('k', '2')).resolves.toMatchObject({ value: '2', version: 2 });
    expect(await store.get('k', { consistent: true })).toMatchObject({ value: '2' });
    expect(calls).toBeGreaterThanOrEqual(3);
  });
});
