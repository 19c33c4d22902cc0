// The etcd cluster harness, proven against real etcd (Debian's etcd-server; .ci/run installs it):
// the three members form one cluster, a write through one member is read through another, a killed
// leader is replaced and writes go on, a whole-cluster outage fails requests and a restart recovers
// the data, and close() leaves no process or directory behind. The client is the one the etcd
// backend uses: etcd's JSON gateway (POST /v3/...) through undici.
import { existsSync } from 'node:fs';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import { type EtcdCluster, startEtcdCluster } from './support/etcd-cluster.js';

interface KeyValue {
  key: string;
  value: string;
  mod_revision: string;
}
interface Answer {
  header: { revision: string };
  kvs?: KeyValue[];
  members?: { clientURLs: string[] }[];
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** A gateway client for one member: POSTs JSON, answers the parsed body, throws on non-200. */
function memberClient(endpoint: string): (path: string, body: unknown) => Promise<Answer> {
  const pool = new Pool(endpoint);
  onTestFinished(() => pool.destroy());
  return async (path, body) => {
    // The signal is a hang guard only, never a verdict.
    const res = await pool.request({ method: 'POST', path, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`${endpoint}${path}: ${res.statusCode} ${text}`);
    return JSON.parse(text) as Answer;
  };
}

async function put(endpoint: string, key: string, value: string): Promise<number> {
  const answer = await memberClient(endpoint)('/v3/kv/put', { key: b64(key), value: b64(value) });
  return Number(answer.header.revision);
}

/** The values stored under `key`, read (linearizably: etcd's default) through `endpoint`. */
async function values(endpoint: string, key: string): Promise<string[]> {
  const answer = await memberClient(endpoint)('/v3/kv/range', { key: b64(key) });
  return (answer.kvs ?? []).map((kv) => Buffer.from(kv.value, 'base64').toString());
}

describe('etcd cluster harness (three real etcd members on loopback)', () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await startEtcdCluster();
  });
  afterAll(() => cluster?.close());

  test('the three members form one cluster with one leader', async () => {
    const leader = await cluster.leader();
    expect([0, 1, 2]).toContain(leader);
    expect(cluster.members.map((m) => m.running)).toEqual([true, true, true]);
    const { members = [] } = await memberClient(cluster.endpoints[0]!)('/v3/cluster/member/list', {});
    expect(members.flatMap((m) => m.clientURLs).sort()).toEqual([...cluster.endpoints].sort());
  });

  test('a put through member 1 is read through member 3, at the revision the put answered', async () => {
    const [m1, , m3] = cluster.endpoints;
    const revision = await put(m1!, 'harness/put-1-read-3', 'written through m1');
    const answer = await memberClient(m3!)('/v3/kv/range', { key: b64('harness/put-1-read-3') });
    expect(answer.kvs?.map((kv) => [Buffer.from(kv.value, 'base64').toString(), Number(kv.mod_revision)])).toEqual([
      ['written through m1', revision],
    ]);
  });

  test('killing the leader elects another member and writes go on; the old leader catches up on restart', async () => {
    const old = await cluster.leader();
    await cluster.kill(old);
    expect(cluster.members[old]!.running).toBe(false);
    const next = await cluster.leader();
    expect(next).not.toBe(old);

    const [a, b] = cluster.endpoints.filter((_, i) => i !== old);
    await put(a!, 'harness/after-election', 'written after the election');
    expect(await values(b!, 'harness/after-election')).toEqual(['written after the election']);

    await cluster.start(old);
    expect(cluster.members.map((m) => m.running)).toEqual([true, true, true]);
    expect(await values(cluster.endpoints[old]!, 'harness/after-election')).toEqual(['written after the election']);
  });

  test.each(['SIGTERM', 'SIGKILL'] as const)(
    'with every member stopped (%s) requests fail; started again, the cluster serves what was written before',
    async (signal) => {
      const key = `harness/outage-${signal}`;
      await put(cluster.endpoints[0]!, key, 'written before the outage');
      await cluster.stopAll(signal);
      expect(cluster.members.map((m) => m.running)).toEqual([false, false, false]);
      for (const endpoint of cluster.endpoints) {
        await expect(values(endpoint, key)).rejects.toThrow(/ECONNREFUSED|connect/);
      }

      await cluster.startAll();
      for (const endpoint of cluster.endpoints) {
        expect(await values(endpoint, key)).toEqual(['written before the outage']);
      }
    },
  );
});

describe('etcd cluster harness cleanup', () => {
  test('close() kills every member and removes the data directories', async () => {
    const cluster = await startEtcdCluster();
    const pids = cluster.members.map((m) => m.pid);
    expect(pids.every((pid) => typeof pid === 'number' && isAlive(pid))).toBe(true);
    expect(existsSync(cluster.root)).toBe(true);

    await cluster.close();
    expect(pids.filter((pid) => pid !== undefined && isAlive(pid))).toEqual([]);
    expect(existsSync(cluster.root)).toBe(false);
    expect(cluster.members.map((m) => m.running)).toEqual([false, false, false]);
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
