import { keyPath } from '@kv/shared';
import { kvctl } from '../../client/test/kvctl-process.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KvProcess, stopAllKvStores } from './reliability/support/kv-process.js';
import { type EtcdCluster, startEtcdCluster } from './support/etcd-cluster.js';
import { type HttpAnswer, http, startEtcdNodes } from './support/etcd-nodes.js';

// The HTTP contract through two real kv_store processes (KV_BACKEND=etcd) on one real
// three-member etcd cluster, alternating nodes request by request. A node serves reads from its
// cache, which follows etcd a moment behind the other node's writes: a read that must see the
// other node's last write asks for `?consistent=true` (the contract's linearizable read), and a
// plain read is shown to catch up (polled, with a hang guard).
let cluster: EtcdCluster | undefined;
let nodes: KvProcess[] = [];
beforeAll(async () => {
  cluster = await startEtcdCluster();
  nodes = await startEtcdNodes(cluster, 2, 'http/');
}, 60_000);
afterAll(async () => {
  await stopAllKvStores();
  await cluster?.close();
});

let turn = 0;
/** The next node, in turn: every request of a test goes to the other node than the one before. */
function next(): string {
  return (nodes[turn++ % nodes.length] as KvProcess).baseUrl;
}
const ETAG = (answer: HttpAnswer) => answer.headers.get('etag');
const revisionOf = (answer: HttpAnswer) => (answer.body as { revision: number }).revision;

function expectError(answer: HttpAnswer, status: number, code: string): void {
  expect({ status: answer.status, body: answer.body }).toEqual({ status, body: { error: { code, message: expect.any(String) } } });
}

describe('the HTTP contract through two nodes, alternating', () => {
  it('create, read, overwrite with If-Match, refuse a stale one, delete: each step on the other node', async () => {
    const key = 'alt/one';
    const created = await http(next(), 'POST', '/v1/', { key, value: { n: 1 } });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      key,
      value: { n: 1 },
      version: 1,
      revision: expect.any(Number),
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      expiresAt: null,
    });
    expect(created.headers.get('location')).toBe(keyPath(key));
    const r1 = revisionOf(created);

    const read = await http(next(), 'GET', `/v1/${key}?consistent=true`);
    expect({ status: read.status, body: read.body }).toEqual({ status: 200, body: created.body });
    expect(ETAG(read)).toBe(`"${r1}"`);

    expectError(await http(next(), 'POST', '/v1/', { key, value: 2 }), 409, 'key_exists');

    const replaced = await http(next(), 'PUT', `/v1/${key}`, { value: { n: 2 } }, { 'if-match': `"${r1}"` });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ key, value: { n: 2 }, version: 2 });
    const r2 = revisionOf(replaced);
    expect(r2).toBeGreaterThan(r1);

    const stale = await http(next(), 'PUT', `/v1/${key}`, { value: { n: 3 } }, { 'if-match': `"${r1}"` });
    expectError(stale, 412, 'version_mismatch');

    // The plain read of the other node catches up with the write (its watch), without ?consistent.
    const other = next();
    await expect
      .poll(async () => (await http(other, 'GET', `/v1/${key}`)).body, { timeout: 15_000, interval: 20 })
      .toMatchObject({ value: { n: 2 }, version: 2, revision: r2 });

    const deleted = await http(next(), 'DELETE', `/v1/${key}`, undefined, { 'if-match': `"${r2}"` });
    expect(deleted.status).toBe(204);
    expectError(await http(next(), 'GET', `/v1/${key}?consistent=true`), 404, 'key_not_found');
    expectError(await http(next(), 'PUT', `/v1/${key}`, { value: 1 }), 404, 'key_not_found');
    const again = await http(next(), 'POST', '/v1/', { key, value: 'again' });
    expect(again.status).toBe(201);
    expect(again.body).toMatchObject({ version: 1, value: 'again' });
  });

  it('every answer of both nodes carries the same KV-Store-Id and a KV-Revision no lower than what it wrote', async () => {
    const a = await http(next(), 'POST', '/v1/', { key: 'alt/headers', value: 1 });
    const b = await http(next(), 'GET', '/v1/alt/headers?consistent=true');
    expect(a.headers.get('kv-store-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(b.headers.get('kv-store-id')).toBe(a.headers.get('kv-store-id'));
    expect(Number(a.headers.get('kv-revision'))).toBeGreaterThanOrEqual(revisionOf(a));
  });

  it('a create race through both nodes gives exactly one 201, every time', async () => {
    for (let round = 0; round < 15; round++) {
      const key = `race/${round}`;
      const answers = await Promise.all(nodes.map((node) => http(node.baseUrl, 'POST', '/v1/', { key, value: node.port })));
      expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
      const winner = answers.find((a) => a.status === 201) as HttpAnswer;
      const loser = answers.find((a) => a.status === 409) as HttpAnswer;
      expectError(loser, 409, 'key_exists');
      const read = await http(next(), 'GET', `/v1/${key}?consistent=true`);
      expect(read.body).toEqual(winner.body);
    }
  });

  it('an If-Match chain across nodes: each write names the ETag the other node answered', async () => {
    const key = 'alt/chain';
    let answer = await http(next(), 'POST', '/v1/', { key, value: 0 });
    for (let i = 1; i <= 20; i++) {
      answer = await http(next(), 'PUT', `/v1/${key}`, { value: i }, { 'if-match': ETAG(answer) as string });
      expect({ status: answer.status, version: (answer.body as { version: number }).version }).toEqual({ status: 200, version: i + 1 });
    }
    const read = await http(next(), 'GET', `/v1/${key}?consistent=true`);
    expect(read.body).toEqual(answer.body);
  });

  it('a TTL written through one node expires on the other at expiresAt: never a 200 asked for after it', async () => {
    const key = 'alt/ttl';
    const created = await http(next(), 'POST', '/v1/', { key, value: 1, ttl: 1 });
    expect(created.status).toBe(201);
    const expiresAt = Date.parse((created.body as { expiresAt: string }).expiresAt);
    const other = next();
    // Ask the other node until a read asked for after expiresAt answers 404 (hang guard: 15 s).
    const deadline = Date.now() + 15_000;
    let after: HttpAnswer | undefined;
    while (after === undefined && Date.now() < deadline) {
      const askedAt = Date.now();
      const read = await http(other, 'GET', `/v1/${key}`);
      if (askedAt >= expiresAt) {
        expect(read.status, `read asked ${askedAt - expiresAt} ms after expiresAt`).toBe(404);
        after = read;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expectError(after as HttpAnswer, 404, 'key_not_found');
  });

  it('a transaction through one node is one revision, seen whole through the other', async () => {
    await http(next(), 'POST', '/v1/', { key: 'alt/txn/a', value: 1 });
    const txn = await http(next(), 'POST', '/txn', {
      checks: [{ key: 'alt/txn/a', exists: true }],
      ops: [
        { op: 'incr', key: 'alt/txn/a', by: 10 },
        { op: 'create', key: 'alt/txn/b', value: 'b' },
      ],
    });
    expect(txn.status).toBe(200);
    const { revision } = txn.body as { revision: number };
    expect(txn.body).toMatchObject({
      succeeded: true,
      results: [
        { value: 11, revision },
        { value: 'b', revision },
      ],
    });
    const a = await http(next(), 'GET', '/v1/alt/txn/a?consistent=true');
    const b = await http(next(), 'GET', '/v1/alt/txn/b?consistent=true');
    expect([a.body, b.body]).toMatchObject([
      { value: 11, revision },
      { value: 'b', revision },
    ]);
    const failed = await http(next(), 'POST', '/txn', {
      checks: [{ key: 'alt/txn/b', exists: false }],
      ops: [{ op: 'delete', key: 'alt/txn/a' }],
    });
    expect(failed.status).toBe(409);
    expect(failed.body).toMatchObject({ error: { code: 'txn_failed' }, succeeded: false });
  });

  it("a listing's cursor from one node goes on on the other, at the same revision", async () => {
    for (let i = 0; i < 5; i++) expect((await http(next(), 'POST', '/v1/', { key: `list/${i}`, value: i })).status).toBe(201);
    // consistent=true: the first page sees the writes made through the other node a moment ago
    // (a plain one starts at the node's cache's revision, which may not have reached them yet).
    const first = await http(next(), 'GET', '/v1/?prefix=list/&limit=2&count=true&consistent=true');
    expect(first.status).toBe(200);
    const pages = [first.body as { revision: number; items: { key: string }[]; more: boolean; cursor?: string; count?: number }];
    expect(pages[0]).toMatchObject({ count: 5, more: true });
    while (pages.at(-1)?.more === true) {
      await http(next(), 'POST', '/v1/', { key: `list/${pages.length}x`, value: 'meanwhile' });
      const page = await http(next(), 'GET', `/v1/?prefix=list/&limit=2&count=true&cursor=${pages.at(-1)?.cursor}`);
      expect(page.status).toBe(200);
      pages.push(page.body as (typeof pages)[number]);
    }
    expect(pages.every((p) => p.revision === pages[0]?.revision)).toBe(true);
    expect(pages.flatMap((p) => p.items.map((i) => i.key))).toEqual(['list/0', 'list/1', 'list/2', 'list/3', 'list/4']);
  });

  it('a watch opened on one node (Server-Sent Events) sees a write made through the other', async () => {
    const [a, b] = nodes as [KvProcess, KvProcess];
    const abort = new AbortController();
    const stream = await fetch(`${b.baseUrl}/v1/?watch=true&prefix=watched/`, {
      headers: { accept: 'text/event-stream' },
      signal: abort.signal,
    });
    expect(stream.status).toBe(200);
    const written = await http(a.baseUrl, 'POST', '/v1/', { key: 'watched/1', value: { from: 'a' } });
    expect(written.status).toBe(201);
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    const deadline = Date.now() + 15_000;
    while (!text.includes('"watched/1"') && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    abort.abort();
    const message = text.split('\n\n').find((m) => m.includes('"watched/1"')) ?? '';
    const revision = (written.body as { revision: number }).revision;
    expect(message).toContain(`id: ${revision}\nevent: change\n`);
    const data = JSON.parse(message.slice(message.indexOf('data: ') + 6)) as { revision: number; changes: unknown[] };
    expect(data).toEqual({
      revision,
      changes: [expect.objectContaining({ type: 'put', key: 'watched/1', value: { from: 'a' }, version: 1, revision })],
    });
  });

  it('a watcher that moves to the other node with the Last-Event-ID the first gave it resumes there, missing nothing', async () => {
    const [a, b] = nodes as [KvProcess, KvProcess];
    const first = await http(a.baseUrl, 'POST', '/v1/', { key: 'moved/1', value: 1 });
    const lastEventId = String((first.body as { revision: number }).revision);
    const second = await http(a.baseUrl, 'POST', '/v1/', { key: 'moved/2', value: 2 });
    // Straight away, on the other node, whose cache may not have either write yet: a long-poll from there.
    const resumed = await http(b.baseUrl, 'GET', '/v1/?watch=true&prefix=moved/&wait=10', undefined, { 'last-event-id': lastEventId });
    expect(resumed.status).toBe(200);
    const revision = (second.body as { revision: number }).revision;
    expect(resumed.body).toMatchObject({
      changes: [expect.objectContaining({ type: 'put', key: 'moved/2', value: 2, revision })],
    });
  });

  it("consistent=true (and kvctl ls --consistent) lists at etcd's current revision, past a write the node's cache has not seen", async () => {
    const node = next();
    await http(node, 'POST', '/v1/', { key: 'seen/1', value: 1 });
    // A write outside the store's prefix moves etcd's revision, and nothing the node's watch sees.
    const outside = await fetch(`${cluster?.endpoints[0]}/v3/kv/put`, {
      method: 'POST',
      body: JSON.stringify({ key: Buffer.from('outside/x').toString('base64'), value: Buffer.from('1').toString('base64') }),
    });
    const etcdRevision = Number(((await outside.json()) as { header: { revision: string } }).header.revision);
    const plain = await http(node, 'GET', '/v1/?prefix=seen/');
    expect(plain.status).toBe(200);
    expect((plain.body as { revision: number }).revision).toBeLessThan(etcdRevision);
    const consistent = await http(node, 'GET', '/v1/?prefix=seen/&consistent=true');
    expect(consistent.status).toBe(200);
    expect((consistent.body as { revision: number }).revision).toBeGreaterThanOrEqual(etcdRevision);
    expect((consistent.body as { items: { key: string }[] }).items.map((i) => i.key)).toEqual(['seen/1']);

    const listed = await kvctl(['ls', 'seen/', '--consistent', '-o', 'json'], { KV_URL: node });
    expect({ code: listed.code, stderr: listed.stderr }).toEqual({ code: 0, stderr: '' });
    const json = JSON.parse(listed.stdout) as { revision: number; items: { key: string }[]; more: boolean };
    expect(json.revision).toBeGreaterThanOrEqual(etcdRevision);
    expect({ keys: json.items.map((i) => i.key), more: json.more }).toEqual({ keys: ['seen/1'], more: false });
    const got = await kvctl(['get', 'seen/1', '--consistent', '-o', 'json'], { KV_URL: node });
    expect({ code: got.code, stderr: got.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(got.stdout)).toMatchObject({ key: 'seen/1', value: 1, version: 1 });
  });

  it('a consistent read with a bad value is 400 invalid_query', async () => {
    expectError(await http(next(), 'GET', '/v1/alt/x?consistent=yes'), 400, 'invalid_query');
  });
});
