import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KvProcess, stopAllKvStores } from './reliability/support/kv-process.js';
import { type EtcdCluster, startEtcdCluster } from './support/etcd-cluster.js';
import { type HttpAnswer, http, startEtcdNodes, untilServing } from './support/etcd-nodes.js';

// Faults, on a real three-member etcd cluster with two real kv_store nodes: the etcd leader
// killed while clients write, all of etcd stopped and started again, a kv_store node killed
// mid-load. Verdicts are about results (nothing lost, nothing twice, nothing half-written,
// service back); the times measured are printed, never asserted.
const PREFIX = 'faults/';
let cluster: EtcdCluster;
let nodes: KvProcess[] = [];
beforeAll(async () => {
  cluster = await startEtcdCluster();
  nodes = await startEtcdNodes(cluster, 2, PREFIX);
}, 60_000);
afterAll(async () => {
  await stopAllKvStores();
  await cluster?.close();
});

/** Every value a key has held, in order, read from etcd's own history (a watch from revision 1). */
async function historyOf(key: string): Promise<unknown[]> {
  const etcdKey = b64(`${PREFIX}d/${key}`);
  const range = (await (
    await fetch(`${cluster.endpoints[0]}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: etcdKey }) })
  ).json()) as {
    kvs?: { mod_revision: string }[];
  };
  const until = Number(range.kvs?.[0]?.mod_revision ?? 0);
  const response = await fetch(`${cluster.endpoints[0]}/v3/watch`, {
    method: 'POST',
    body: JSON.stringify({ create_request: { key: etcdKey, start_revision: '1' } }),
    signal: AbortSignal.timeout(20_000),
  });
  const values: unknown[] = [];
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let pending = '';
  let seen = 0;
  while (seen < until) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    let end = pending.indexOf('\n');
    while (end !== -1) {
      const message = JSON.parse(pending.slice(0, end)) as {
        result: { events?: { type?: string; kv: { value?: string; mod_revision: string } }[] };
      };
      pending = pending.slice(end + 1);
      end = pending.indexOf('\n');
      for (const event of message.result.events ?? []) {
        seen = Math.max(seen, Number(event.kv.mod_revision));
        if (event.type === 'DELETE') continue;
        values.push(JSON.parse(Buffer.from(event.kv.value ?? '', 'base64').toString('utf8')).value);
      }
    }
  }
  await reader.cancel();
  return values;
}

function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

/** What one client of an If-Match chain saw. */
interface ChainLog {
  /** Sequence numbers whose write was answered 200. */
  readonly acked: number[];
  /** Sequence numbers answered 503 (etcd did not say whether they were applied). */
  readonly unknown: number[];
  /** When each write was answered 200 (ms since the epoch). */
  readonly ackedAt: number[];
}

/**
 * A client writing `{client, seq}` to its own key with If-Match, request by request through the
 * nodes in turn, until `stop`. After a 503 or 412 it reads the key (consistent) to learn the
 * current ETag and carries on with the next sequence number.
 */
async function ifMatchChain(client: number, log: ChainLog, stop: AbortSignal): Promise<void> {
  const key = `chain/${client}`;
  let turn = client;
  const nodeUrl = () => (nodes[turn++ % nodes.length] as KvProcess).baseUrl;
  let etag: string | undefined;
  const refresh = async () => {
    while (!stop.aborted) {
      const read = await http(nodeUrl(), 'GET', `/v1/${key}?consistent=true`).catch(() => undefined);
      if (read?.status === 200) {
        etag = read.headers.get('etag') ?? undefined;
        return;
      }
      await sleep(50);
    }
  };
  const created = await http(nodeUrl(), 'POST', '/v1/', { key, value: { client, seq: 0 } });
  expect(created.status).toBe(201);
  log.acked.push(0);
  log.ackedAt.push(Date.now());
  etag = created.headers.get('etag') ?? undefined;
  for (let seq = 1; !stop.aborted; seq++) {
    let answer: HttpAnswer | undefined;
    try {
      answer = await http(nodeUrl(), 'PUT', `/v1/${key}`, { value: { client, seq } }, { 'if-match': etag as string });
    } catch {
      answer = undefined;
    }
    if (answer?.status === 200) {
      log.acked.push(seq);
      log.ackedAt.push(Date.now());
      etag = answer.headers.get('etag') ?? undefined;
      continue;
    }
    if (answer !== undefined && answer.status !== 503 && answer.status !== 412) {
      throw new Error(`unexpected answer ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    if (answer?.status !== 412) log.unknown.push(seq);
    await refresh();
  }
}

describe('faults', () => {
  it('killing the etcd leader while clients write If-Match chains through both nodes loses no acknowledged write and applies none twice', async () => {
    const stop = new AbortController();
    const logs: ChainLog[] = [0, 1, 2, 3].map(() => ({ acked: [], unknown: [], ackedAt: [] }));
    const running = Promise.all(logs.map((log, client) => ifMatchChain(client, log, stop.signal)));
    await expect.poll(() => logs.every((log) => log.acked.length > 5), { timeout: 20_000, interval: 20 }).toBe(true);
    const leader = await cluster.leader();
    const killedAt = Date.now();
    await cluster.kill(leader);
    // The chains run on until every client has had writes acknowledged after the kill (hang guard).
    await expect
      .poll(() => logs.every((log) => log.ackedAt.filter((t) => t > killedAt).length > 5), { timeout: 30_000, interval: 20 })
      .toBe(true);
    stop.abort();
    await running;
    await cluster.start(leader);

    for (const [client, log] of logs.entries()) {
      const history = (await historyOf(`chain/${client}`)) as { client: number; seq: number }[];
      const seqs = history.map((v) => v.seq);
      // Nothing applied twice, and in order.
      expect(new Set(seqs).size).toBe(seqs.length);
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
      // Every acknowledged write is in etcd's history.
      expect(seqs).toEqual(expect.arrayContaining(log.acked));
      // And nothing else: whatever is there beyond the acknowledged ones was answered 503.
      for (const seq of seqs) if (!log.acked.includes(seq)) expect(log.unknown).toContain(seq);
    }
    // The service gap: the longest time between two acknowledged writes, from the kill on.
    const acks = logs.flatMap((log) => log.ackedAt).sort((a, b) => a - b);
    let gap = 0;
    for (let i = 1; i < acks.length; i++)
      if ((acks[i] as number) > killedAt) gap = Math.max(gap, (acks[i] as number) - Math.max(acks[i - 1] as number, killedAt));
    console.log(
      `[etcd faults] leader (m${leader + 1}) killed: ${acks.length} writes acknowledged, ${logs.reduce((n, l) => n + l.unknown.length, 0)} answered 503; ` +
        `longest time without an acknowledged write after the kill: ${gap} ms`,
    );
  }, 60_000);

  it('with all of etcd stopped both nodes answer 503 backend_unavailable, and they recover by themselves when it returns', async () => {
    const put = await http(nodes[0]?.baseUrl as string, 'POST', '/v1/', { key: 'outage/k', value: 1 });
    expect(put.status).toBe(201);
    await cluster.stopAll();
    const stoppedAt = Date.now();
    for (const node of nodes) {
      await expect.poll(async () => (await http(node.baseUrl, 'GET', '/v1/outage/k')).status, { timeout: 20_000, interval: 50 }).toBe(503);
      const read = await http(node.baseUrl, 'GET', '/v1/outage/k');
      expect(read.body).toEqual({ error: { code: 'backend_unavailable', message: expect.stringContaining('etcd') } });
      const write = await http(node.baseUrl, 'PUT', '/v1/outage/k', { value: 2 });
      expect(write.status).toBe(503);
      expect(write.body).toEqual({ error: { code: 'backend_unavailable', message: expect.any(String) } });
      const ready = await http(node.baseUrl, 'GET', '/readyz');
      expect({ status: ready.status, body: ready.body }).toEqual({
        status: 503,
        body: { status: 'not_ready', checks: [{ name: 'backend', ok: false, reason: expect.stringContaining('etcd') }] },
      });
    }
    const noticed = Date.now() - stoppedAt;
    await cluster.startAll();
    const startedAt = Date.now();
    for (const node of nodes) await untilServing(node.baseUrl, 30_000);
    const recovered = Date.now() - startedAt;
    for (const node of nodes) {
      await expect
        .poll(async () => (await http(node.baseUrl, 'GET', '/readyz')).body, { timeout: 20_000, interval: 50 })
        .toEqual({ status: 'ready' });
    }
    for (const [i, node] of nodes.entries()) {
      const write = await http(node.baseUrl, 'PUT', '/v1/outage/k', { value: 10 + i });
      expect(write.status).toBe(200);
      expect(write.body).toMatchObject({ value: 10 + i, version: 2 + i });
    }
    console.log(
      `[etcd faults] all of etcd stopped: both nodes answered 503 within ${noticed} ms; serving again ${recovered} ms after etcd was back`,
    );
  }, 60_000);

  it('a kv_store node killed (SIGKILL) in the middle of transactions leaves none half-written', async () => {
    const [victim, survivor] = nodes as [KvProcess, KvProcess];
    const GROUP = 5;
    let batch = 0;
    let acked = 0;
    const load = async () => {
      for (;;) {
        const n = ++batch;
        const group = n % 7;
        const ops = Array.from({ length: GROUP }, (_, i) => ({ op: 'set', key: `half/${group}/${i}`, value: { batch: n } }));
        try {
          const answer = await http(victim.baseUrl, 'POST', '/txn', { checks: [], ops });
          if (answer.status === 200) acked++;
        } catch {
          return;
        }
      }
    };
    const loaders = Array.from({ length: 8 }, load);
    await expect.poll(() => acked, { timeout: 20_000, interval: 10 }).toBeGreaterThan(20);
    await victim.stop('SIGKILL');
    await Promise.all(loaders);
    let groups = 0;
    for (let group = 0; group < 7; group++) {
      // One transaction of gets: the group's keys as they are at one revision.
      const gets = Array.from({ length: GROUP }, (_, i) => ({ op: 'get', key: `half/${group}/${i}` }));
      const read = await http(survivor.baseUrl, 'POST', '/txn', { checks: [], ops: gets });
      expect(read.status).toBe(200);
      const batches = (read.body as { results: ({ value: { batch: number } } | null)[] }).results.map((r) => r?.value.batch);
      if (batches.every((b) => b === undefined)) continue;
      groups++;
      // All five keys of a group come from the same transaction: never some from one and some from another.
      expect(new Set(batches).size).toBe(1);
      expect(batches[0]).toEqual(expect.any(Number));
    }
    expect(groups).toBeGreaterThan(0);
  }, 60_000);
});
