import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KvProcess, startKvStore, stopAllKvStores } from './reliability/support/kv-process.js';
import { type EtcdCluster, startEtcdCluster } from './support/etcd-cluster.js';
import { http, startEtcdNodes, untilServing } from './support/etcd-nodes.js';
import { SseClient } from './support/sse-client.js';
import { makeTestCertificates, type TestCertificates } from './support/test-certs.js';

// KV_BACKEND=etcd against a real three-member etcd cluster run as a production one is: client
// URLs over https, every client asked for a certificate signed by the cluster's CA
// (--client-cert-auth), auth on, kv_store's user allowed only its own prefix, and etcd's tokens
// living one second (--auth-token-ttl 1), so that kv_store has to authenticate again as it goes.
// Then what an operator gets wrong: each refusal must say what to change in /readyz.

const PREFIX = 'secure/';
const USER = { name: 'kv-node', password: 'node-secret', prefix: PREFIX };
const ROOT_PASSWORD = 'root-secret';

let dir = '';
let certs: TestCertificates;
let cluster: EtcdCluster | undefined;
let nodes: KvProcess[] = [];

/** The environment of a node that does everything right. */
function goodEnv(): Record<string, string> {
  return {
    KV_ETCD_CA_FILE: certs.ca,
    KV_ETCD_CERT_FILE: certs.client.cert,
    KV_ETCD_KEY_FILE: certs.client.key,
    KV_ETCD_USERNAME: USER.name,
    KV_ETCD_PASSWORD: USER.password,
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kv-etcd-tls-'));
  certs = makeTestCertificates(dir);
  cluster = await startEtcdCluster({
    tls: { ca: certs.ca, server: certs.server, clientCertAuth: certs.client },
    extraArgs: ['--auth-token-ttl', '1'],
  });
  await cluster.enableAuth(ROOT_PASSWORD, [USER]);
  nodes = await startEtcdNodes(cluster, 2, PREFIX, goodEnv());
}, 90_000);

afterAll(async () => {
  await stopAllKvStores();
  await cluster?.close();
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

/** Polls /readyz of `node` until it is 503 with a backend reason matching `pattern` (hang guard: 20 s); returns the reason. */
async function notReadyBecause(node: KvProcess, pattern: RegExp): Promise<string> {
  let reason = '';
  await expect
    .poll(
      async () => {
        const answer = await http(node.baseUrl, 'GET', '/readyz');
        const checks = (answer.body as { checks?: Array<{ name: string; reason?: string }> }).checks ?? [];
        reason = checks.find((c) => c.name === 'backend')?.reason ?? '';
        return { status: answer.status, reason };
      },
      { timeout: 20_000, interval: 100 },
    )
    .toEqual({ status: 503, reason: expect.stringMatching(pattern) });
  return reason;
}

/** Polls /readyz of `node` until it is 200 ready (hang guard: 20 s). */
async function untilReady(node: KvProcess): Promise<void> {
  await expect
    .poll(
      async () => {
        const ready = await http(node.baseUrl, 'GET', '/readyz');
        return { status: ready.status, body: ready.body };
      },
      { timeout: 20_000, interval: 50 },
    )
    .toEqual({ status: 200, body: { status: 'ready' } });
}

describe('kv_store on etcd with TLS, client certificates and auth on', () => {
  it('serves the contract through two nodes: create, read on the other node, If-Match, a TTL, a watch, delete', async () => {
    const [a, b] = nodes as [KvProcess, KvProcess];
    expect(a.baseUrl).not.toBe(b.baseUrl);
    // A node serves reads from etcd while its cache loads; /readyz says ready once it has.
    for (const node of nodes) await untilReady(node);

    const created = await http(a.baseUrl, 'POST', '/v1/', { key: 'cfg/one', value: { n: 1 } });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      key: 'cfg/one',
      value: { n: 1 },
      version: 1,
      revision: expect.any(Number),
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      expiresAt: null,
    });
    const read = await http(b.baseUrl, 'GET', '/v1/cfg/one?consistent=true');
    expect({ status: read.status, body: read.body }).toEqual({ status: 200, body: created.body });

    const watch = new SseClient(b.port, `/v1/?watch=true&prefix=cfg%2F&after=${(created.body as { revision: number }).revision}`);
    try {
      const etag = read.headers.get('etag') as string;
      const replaced = await http(a.baseUrl, 'PUT', '/v1/cfg/one', { value: { n: 2 } }, { 'if-match': etag });
      expect(replaced.status).toBe(200);
      expect(replaced.body).toMatchObject({ key: 'cfg/one', value: { n: 2 }, version: 2 });
      const stale = await http(b.baseUrl, 'PUT', '/v1/cfg/one', { value: { n: 3 } }, { 'if-match': etag });
      expect({ status: stale.status, body: stale.body }).toEqual({
        status: 412,
        body: { error: { code: 'version_mismatch', message: expect.any(String) } },
      });
      const revision = (replaced.body as { revision: number }).revision;
      await watch.until(
        (events) => events.some((e) => e.event === 'change' && e.id === String(revision)),
        'the PUT on the watch of the other node',
      );
      const change = watch.events.find((e) => e.event === 'change' && e.id === String(revision));
      expect(JSON.parse(change?.data ?? '{}')).toEqual({
        revision,
        changes: [{ type: 'put', key: 'cfg/one', value: { n: 2 }, version: 2, revision, expiresAt: null }],
      });
    } finally {
      watch.close();
    }

    // A TTL is an etcd lease: granted by a user with no more than its prefix.
    const leased = await http(b.baseUrl, 'POST', '/v1/', { key: 'cfg/leased', value: 'x', ttl: 60 });
    expect(leased.status).toBe(201);
    expect((leased.body as { expiresAt: string | null }).expiresAt).toEqual(expect.any(String));

    const deleted = await http(b.baseUrl, 'DELETE', '/v1/cfg/one');
    expect(deleted.status).toBe(204);
    const gone = await http(a.baseUrl, 'GET', '/v1/cfg/one?consistent=true');
    expect({ status: gone.status, body: gone.body }).toEqual({
      status: 404,
      body: { error: { code: 'key_not_found', message: "key 'cfg/one' not found" } },
    });
  }, 60_000);

  it('authenticates again when its token expires, and after etcd restarts (tokens gone), watch included', async () => {
    const [a, b] = nodes as [KvProcess, KvProcess];
    await sleep(2500); // the tokens (1 s) have expired
    const created = await http(a.baseUrl, 'POST', '/v1/', { key: 'tok/a', value: 1 });
    expect(created.status).toBe(201);

    // A restart of every member forgets every token: the nodes' watches reconnect and must authenticate again.
    await (cluster as EtcdCluster).stopAll('SIGKILL');
    await (cluster as EtcdCluster).startAll();
    for (const node of nodes) await untilServing(node.baseUrl);
    const watch = new SseClient(b.port, '/v1/tok/b?watch=true');
    try {
      await watch.until((events) => events.some((e) => e.event === 'progress'), 'the watch to start');
      const put = await http(a.baseUrl, 'POST', '/v1/', { key: 'tok/b', value: 2 });
      expect(put.status).toBe(201);
      const revision = (put.body as { revision: number }).revision;
      await watch.until((events) => events.some((e) => e.event === 'change' && e.id === String(revision)), 'the create after the restart');
    } finally {
      watch.close();
    }
    const read = await http(b.baseUrl, 'GET', '/v1/tok/b');
    expect({ status: read.status, value: (read.body as { value?: unknown }).value }).toEqual({ status: 200, value: 2 });
  }, 90_000);

  it('a watch etcd cancels for a token it forgot opens again with a new one: after every member restarts, ready with no request but /readyz', async () => {
    // /readyz reads nothing from etcd, so here only the watch's own retries can bring a node back
    // (a read or write while a node is behind goes to etcd, and would authenticate for it).
    for (const node of nodes) await untilReady(node);
    await (cluster as EtcdCluster).stopAll('SIGKILL');
    for (const node of nodes) await notReadyBecause(node, /watch on etcd/);
    await (cluster as EtcdCluster).startAll();
    for (const node of nodes) await untilReady(node);
  }, 90_000);
});

describe('what an operator gets wrong is said in /readyz, and requests get 503 backend_unavailable', () => {
  const endpoints = () => (cluster as EtcdCluster).endpoints.join(',');
  const start = (env: Record<string, string>) =>
    startKvStore({ KV_BACKEND: 'etcd', KV_ETCD_ENDPOINTS: endpoints(), KV_ETCD_PREFIX: PREFIX, ...env });

  it('a wrong password', async () => {
    const node = await start({ ...goodEnv(), KV_ETCD_PASSWORD: 'wrong' });
    const reason = await notReadyBecause(node, /authentication as 'kv-node' failed/);
    expect(reason).toContain('invalid user ID or password');
    const answer = await http(node.baseUrl, 'GET', '/v1/cfg/x');
    expect({ status: answer.status, code: (answer.body as { error: { code: string } }).error.code }).toEqual({
      status: 503,
      code: 'backend_unavailable',
    });
    await node.stop();
  }, 30_000);

  it('a prefix the user may not use', async () => {
    const node = await start({ ...goodEnv(), KV_ETCD_PREFIX: 'elsewhere/' });
    const reason = await notReadyBecause(node, /permission denied/);
    expect(reason).toContain("readwrite on the prefix 'elsewhere/'");
    await node.stop();
  }, 30_000);

  it("no CA for etcd's certificate", async () => {
    const { KV_ETCD_CA_FILE: _, ...env } = goodEnv();
    const node = await start(env);
    const reason = await notReadyBecause(node, /TLS certificate was not accepted/);
    expect(reason).toContain('KV_ETCD_CA_FILE');
    await node.stop();
  }, 30_000);

  it('no client certificate', async () => {
    const { KV_ETCD_CERT_FILE: _c, KV_ETCD_KEY_FILE: _k, ...env } = goodEnv();
    const node = await start(env);
    await notReadyBecause(node, /KV_ETCD_CERT_FILE/);
    await node.stop();
  }, 30_000);

  it('an https:// endpoint that speaks plain HTTP', async () => {
    const plain = createServer((_req, res) => res.end('not etcd'));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = plain.address() as AddressInfo;
      const node = await startKvStore({ KV_BACKEND: 'etcd', KV_ETCD_ENDPOINTS: `https://127.0.0.1:${port}`, KV_ETCD_CA_FILE: certs.ca });
      const reason = await notReadyBecause(node, /the TLS handshake with etcd failed \(wrong version number\)/);
      expect(reason).toContain('an http:// member must be listed as http://');
      await node.stop();
    } finally {
      plain.close();
    }
  }, 30_000);
});

describe('identity by client certificate: etcd takes the Common Name as the user', () => {
  const endpoints = () => (cluster as EtcdCluster).endpoints.join(',');

  it('a certificate whose Common Name is the user, and no password: served, and the prefix rules apply', async () => {
    const env = { KV_ETCD_CA_FILE: certs.ca, KV_ETCD_CERT_FILE: certs.clientWithCn.cert, KV_ETCD_KEY_FILE: certs.clientWithCn.key };
    const node = await startKvStore({ KV_BACKEND: 'etcd', KV_ETCD_ENDPOINTS: endpoints(), KV_ETCD_PREFIX: PREFIX, ...env });
    await untilServing(node.baseUrl);
    const created = await http(node.baseUrl, 'POST', '/v1/', { key: 'cn/a', value: 'by certificate' });
    expect(created.status).toBe(201);
    const read = await http((nodes[0] as KvProcess).baseUrl, 'GET', '/v1/cn/a');
    expect({ status: read.status, value: (read.body as { value?: unknown }).value }).toEqual({ status: 200, value: 'by certificate' });
    await node.stop();

    // The same user on a prefix it may not use: refused by etcd's permissions, as with a password.
    const elsewhere = await startKvStore({ KV_BACKEND: 'etcd', KV_ETCD_ENDPOINTS: endpoints(), KV_ETCD_PREFIX: 'elsewhere/', ...env });
    const reason = await notReadyBecause(elsewhere, /permission denied/);
    expect(reason).toContain("readwrite on the prefix 'elsewhere/'");
    await elsewhere.stop();
  }, 60_000);

  it("a certificate with a Common Name beside a user and password (etcd takes the token's user): served", async () => {
    const node = await startKvStore({
      KV_BACKEND: 'etcd',
      KV_ETCD_ENDPOINTS: endpoints(),
      KV_ETCD_PREFIX: PREFIX,
      ...goodEnv(),
      KV_ETCD_CERT_FILE: certs.clientWithCn.cert,
      KV_ETCD_KEY_FILE: certs.clientWithCn.key,
    });
    await untilServing(node.baseUrl);
    const created = await http(node.baseUrl, 'POST', '/v1/', { key: 'cn/b', value: 2 });
    expect(created.status).toBe(201);
    await node.stop();
  }, 30_000);
});
