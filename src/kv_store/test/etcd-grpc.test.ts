import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { EtcdGrpc } from '../src/store/etcd/etcd-grpc.js';
import { b64, EtcdError, type EtcdRangeResponse, type EtcdTxnResponse, type EtcdWatchMessage, GRPC } from '../src/store/etcd/etcd-wire.js';
import { type EtcdCluster, startEtcdCluster } from './support/etcd-cluster.js';

// etcd-grpc.ts against a real etcd cluster and against sockets that are not etcd: the shapes the
// rest of the backend reads (etcd-wire.ts: base64, decimal strings, defaults left out, enums by
// name), and what each kind of failure is called.

let cluster: EtcdCluster | undefined;
const endpoints = () => (cluster as EtcdCluster).endpoints;

beforeAll(async () => {
  cluster = await startEtcdCluster();
}, 60_000);

afterAll(() => cluster?.close());

function client(list: readonly string[] = endpoints(), attemptTimeoutMs?: number): EtcdGrpc {
  const etcd = new EtcdGrpc({ endpoints: list, attemptTimeoutMs });
  onTestFinished(() => etcd.close());
  return etcd;
}

/** Listens on a free loopback port until the test ends (its connections cut then); returns its http:// URL. */
async function listening(server: Server): Promise<string> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => {
    for (const socket of sockets) socket.destroy();
    if (server.listening) server.close();
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}

describe('the shapes of etcd-wire.ts, over gRPC', () => {
  it('a put, a range, a failed and a successful Txn: base64 keys and values, decimal int64, defaults left out', async () => {
    const etcd = client();
    const key = b64('grpc/shape');
    const put = await etcd.call<{ header?: { revision?: string } }>('/v3/kv/put', { key, value: b64('one') });
    expect(put.header?.revision).toMatch(/^[1-9][0-9]*$/);
    const revision = put.header?.revision as string;

    const range = await etcd.call<EtcdRangeResponse>('/v3/kv/range', { key });
    expect(range.kvs).toEqual([{ key, value: b64('one'), create_revision: revision, mod_revision: revision, version: '1' }]);
    expect(range.count).toBe('1');
    expect(range.more).toBeUndefined();

    const empty = await etcd.call<EtcdRangeResponse>('/v3/kv/range', { key: b64('grpc/absent') });
    expect({ kvs: empty.kvs, count: empty.count, revision: empty.header?.revision }).toEqual({
      kvs: undefined,
      count: undefined,
      revision,
    });

    const compare = (mod: string) => [{ key, target: 'MOD', result: 'EQUAL', mod_revision: mod }];
    const failed = await etcd.call<EtcdTxnResponse>('/v3/kv/txn', {
      compare: compare('0'),
      success: [{ request_put: { key, value: b64('two') } }],
      failure: [{ request_range: { key } }],
    });
    expect(failed.succeeded).toBeUndefined();
    expect(failed.responses?.[0]?.response_range?.kvs?.[0]?.value).toBe(b64('one'));

    const done = await etcd.call<EtcdTxnResponse>('/v3/kv/txn', {
      compare: compare(revision),
      success: [{ request_put: { key, value: b64('two') } }, { request_delete_range: { key: b64('grpc/absent') } }],
    });
    expect(done.succeeded).toBe(true);
    expect(Number(done.header?.revision)).toBe(Number(revision) + 1);
    expect(done.responses?.map((r) => Object.keys(r))).toEqual([['response_put'], ['response_delete_range']]);
    expect(done.responses?.[1]?.response_delete_range?.deleted).toBeUndefined();
  });

  it('a watch: created, then a PUT without a type and a DELETE by name, with prev_kv; aborting it resolves', async () => {
    const etcd = client();
    const key = b64('grpc/watched');
    const messages: EtcdWatchMessage[] = [];
    const abort = new AbortController();
    const watching = etcd.watch({ create_request: { key, prev_kv: true } }, abort.signal, (m) => messages.push(m));
    await expect.poll(() => messages.some((m) => m.created === true), { timeout: 10_000 }).toBe(true);
    await etcd.call('/v3/kv/put', { key, value: b64('v') });
    await etcd.call('/v3/kv/deleterange', { key });
    await expect.poll(() => messages.flatMap((m) => m.events ?? []).length, { timeout: 10_000 }).toBe(2);
    const [put, del] = messages.flatMap((m) => m.events ?? []);
    expect(put).toMatchObject({ kv: { key, value: b64('v'), version: '1' } });
    expect(put?.type).toBeUndefined();
    expect(del).toMatchObject({ type: 'DELETE', kv: { key }, prev_kv: { key, value: b64('v') } });
    abort.abort();
    await expect(watching).resolves.toBeUndefined();
  });

  it("a lease grant answers with etcd's own field names (ID, TTL)", async () => {
    const answer = await client().call<{ ID?: string; TTL?: string }>('/v3/lease/grant', { TTL: '30' });
    expect(answer.ID).toMatch(/^[1-9][0-9]*$/);
    expect(answer.TTL).toBe('30');
  });
});

describe('what a failure is called', () => {
  it("etcd's refusal: refused, with etcd's gRPC code and words (a range at a compacted revision)", async () => {
    const etcd = client();
    const put = await etcd.call<{ header?: { revision?: string } }>('/v3/kv/put', { key: b64('grpc/c'), value: b64('x') });
    await etcd.call('/v3/kv/put', { key: b64('grpc/c'), value: b64('y') });
    const compactTo = Number(put.header?.revision) + 1;
    const compacted = await fetch(`${endpoints()[0]}/v3/kv/compaction`, {
      method: 'POST',
      body: JSON.stringify({ revision: String(compactTo), physical: true }),
    });
    expect(compacted.status).toBe(200);
    const err = await etcd.call('/v3/kv/range', { key: b64('grpc/c'), revision: put.header?.revision }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EtcdError);
    expect(err).toMatchObject({ failure: 'refused', code: GRPC.outOfRange, message: expect.stringContaining('compacted') });
  });

  it('nothing listening: unreachable, and the next call goes to the next member', async () => {
    // A port that was just free: listened on, then closed.
    const server = createServer();
    const gone = await listening(server);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const etcd = client([gone, endpoints()[0] as string]);
    const err = await etcd.call('/v3/kv/range', { key: b64('grpc/x') }).catch((e: unknown) => e);
    expect(err).toMatchObject({ failure: 'unreachable' });
    expect(etcd.endpoint).toBe(endpoints()[0]);
    const answer = await etcd.call<EtcdRangeResponse>('/v3/kv/range', { key: b64('grpc/x') });
    expect(answer.header?.revision).toMatch(/^[0-9]+$/);
  });

  it('a member that takes the request and never answers: ambiguous after the attempt timeout', async () => {
    // An HTTP/2 server that reads everything and says nothing: the connection is up, no answer comes.
    const silent = createServer((socket) => socket.on('data', () => {}));
    const endpoint = await listening(silent);
    const err = await client([endpoint], 300)
      .call('/v3/kv/put', { key: b64('grpc/x'), value: b64('x') })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ failure: 'ambiguous' });
  });

  it('a watch on a member that takes it and never answers: ambiguous after the attempt timeout, and the next try goes to the next member', async () => {
    const silent = createServer((socket) => socket.on('data', () => {}));
    const endpoint = await listening(silent);
    const etcd = client([endpoint, endpoints()[0] as string], 300);
    const err = await etcd
      .watch({ create_request: { key: b64('grpc/w') } }, new AbortController().signal, () => {})
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ failure: 'ambiguous' });
    expect(etcd.endpoint).toBe(endpoints()[0]);
  });
});
