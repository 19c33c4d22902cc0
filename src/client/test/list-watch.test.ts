import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../kv_store/src/app.js';
import { loadConfig } from '../../kv_store/src/config.js';
import { FakeClock } from '../../kv_store/test/helpers.js';
import { KvClient, KvError, KvHistoryCompactedError, type WatchEvent } from '../src/index.js';
import { type FakeServer, startFakeServer } from './fake-servers.js';

/* The client's list() and watch(): against a real kv_store in-process (on a fake clock), and fake servers for what a real one rarely does. */

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(stops.splice(0).map((stop) => stop()));
});

async function realStore(env: Record<string, string> = {}) {
  const clock = new FakeClock();
  const app = buildApp({ config: loadConfig({ KV_LOG_LEVEL: 'silent', ...env }), clock });
  await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  stops.push(
    () =>
      new Promise((resolve) => {
        void app.close();
        app.server.close(() => resolve());
        app.server.closeAllConnections();
      }),
  );
  return { app, clock, client: new KvClient({ baseUrl: url, timeoutMs: 5000 }) };
}

async function fake(handler: Parameters<typeof startFakeServer>[0]): Promise<{ server: FakeServer; client: KvClient }> {
  const server = await startFakeServer(handler);
  stops.push(() => server.close());
  return { server, client: new KvClient({ baseUrl: server.url }) };
}

/** Reads events from a watch until `count` have come (a hang guard, not a timing). */
async function take(iterator: AsyncIterator<WatchEvent>, count: number): Promise<WatchEvent[]> {
  const events: WatchEvent[] = [];
  while (events.length < count) {
    const next = await Promise.race([
      iterator.next(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`only ${events.length} of ${count} events came`)), 15_000)),
    ]);
    if (next.done === true) break;
    events.push(next.value);
  }
  return events;
}

describe('KvClient.list', () => {
  it("iterates every key in order, following cursors, all at the first page's revision", async () => {
    const { client } = await realStore();
    for (const k of ['b', 'a', 'c/1', 'c/2', 'd']) await client.create(k, k);
    const listing = client.list({ limit: 2, values: true, count: true });
    const seen: string[] = [];
    for await (const item of listing) {
      seen.push(`${item.key}=${JSON.stringify(item.value)}`);
      if (seen.length === 1) await client.create('aa', 'written meanwhile');
    }
    expect(seen).toEqual(['a="a"', 'b="b"', 'c/1="c/1"', 'c/2="c/2"', 'd="d"']);
    expect(listing.revision).toBe(5);
    expect(listing.count).toBe(5);
    const rolled = client.list({ delimiter: '/' });
    expect((await rolled.toArray()).map((i) => i.key)).toEqual(['a', 'aa', 'b', 'd']);
    expect(rolled.prefixes).toEqual(['c/']);
  });

  it('consistent: true is sent with the first page only (later pages are at its revision), and a get sends it on the key', async () => {
    const urls: string[] = [];
    const fake = await startFakeServer((req, res) => {
      urls.push(req.url ?? '');
      res.setHeader('content-type', 'application/json');
      if (req.url?.startsWith('/v1/?')) {
        const last = req.url.includes('cursor=');
        const item = { key: last ? 'b' : 'a', version: 1, revision: 1, createdAt: 'x', updatedAt: 'x', expiresAt: null, size: 1 };
        res.end(JSON.stringify({ revision: 7, items: [item], prefixes: [], more: !last, cursor: last ? null : 'c1' }));
      } else {
        res.setHeader('etag', '"7"');
        const at = '2026-12-04T00:00:00.000Z';
        res.end(JSON.stringify({ key: 'k', value: 1, version: 1, revision: 7, createdAt: at, updatedAt: at, expiresAt: null }));
      }
    });
    stops.push(() => fake.close());
    const client = new KvClient({ baseUrl: fake.url, timeoutMs: 5000 });
    expect((await client.list({ prefix: 'p/', limit: 1, consistent: true }).toArray()).map((i) => i.key)).toEqual(['a', 'b']);
    expect(await client.get('k', { consistent: true })).toMatchObject({ key: 'k', value: 1 });
    expect(urls).toEqual(['/v1/?prefix=p%2F&limit=1&consistent=true', '/v1/?prefix=p%2F&limit=1&cursor=c1', '/v1/k?consistent=true']);
  });

  it('listPage gives one page and its cursor; an expired cursor is KvError 410 cursor_expired with the last key', async () => {
    const { client, clock } = await realStore({ KV_CURSOR_TTL_MS: '1000' });
    for (const k of ['a', 'b', 'c']) await client.create(k, 1);
    const first = await client.listPage({ limit: 2 });
    expect(first).toMatchObject({ revision: 3, more: true, prefixes: [] });
    expect(first.items.map((i) => i.key)).toEqual(['a', 'b']);
    clock.advance(1000);
    const err = await client.listPage({ limit: 2 }, first.cursor as string).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KvError);
    expect(err).toMatchObject({ status: 410, code: 'cursor_expired', details: { revision: 3, lastKey: 'b' } });
  });
});

describe('KvClient.watch against a real kv_store', () => {
  it('yields one event per revision for the range, and ends its connection when the caller stops', async () => {
    const { client, app } = await realStore();
    await client.create('p/a', 0);
    const watch = client.watch({ prefix: 'p/', prev: true });
    const it = watch[Symbol.asyncIterator]();
    const first = it.next();
    await until(() => app.watches.watchers === 1);
    await client.replace('p/a', 1);
    await client.create('q', 1);
    await client.delete('p/a');
    const events = [(await first).value as WatchEvent, ...(await take(it, 1))];
    expect(events).toEqual([
      {
        revision: 2,
        changes: [
          { type: 'put', key: 'p/a', value: 1, version: 2, revision: 2, expiresAt: null, prev: { value: 0, version: 1, revision: 1 } },
        ],
      },
      {
        revision: 4,
        changes: [{ type: 'delete', key: 'p/a', revision: 4, reason: 'delete', prev: { value: 1, version: 2, revision: 2 } }],
      },
    ]);
    expect(watch.revision).toBe(4);
    await it.return?.();
    await until(() => app.watches.watchers === 0);
  });

  it("list, then watch after the listing's revision: together they are the store, nothing missed, nothing twice", async () => {
    const { client } = await realStore();
    for (let i = 0; i < 6; i++) await client.create(`k${i}`, i);
    const state = new Map<string, unknown>();
    const listing = client.list({ limit: 2, values: true });
    for await (const item of listing) {
      state.set(item.key, item.value);
      await client.replace(`k${state.size - 1}`, 100 + state.size); // writes during the listing
    }
    const watch = client.watch({ after: listing.revision });
    const it = watch[Symbol.asyncIterator]();
    await client.delete('k5');
    const events = await take(it, 7);
    await it.return?.();
    for (const e of events) for (const c of e.changes) c.type === 'put' ? state.set(c.key, c.value) : state.delete(c.key);
    const now = new Map((await client.list({ values: true }).toArray()).map((i) => [i.key, i.value]));
    expect(state).toEqual(now);
  });

  it('a consumer too slow for the store is cut off and resumes by itself from resumeAfter, missing nothing', async () => {
    const { client, app } = await realStore({ KV_WATCH_BUFFER_BYTES: '4096' });
    const watch = client.watch({ prefix: 'k' });
    const it = watch[Symbol.asyncIterator]();
    const first = it.next();
    await until(() => app.watches.watchers === 1);
    // More than the kernel's socket buffers hold, so the store sees the client fall behind.
    const big = 'x'.repeat(40_000);
    for (let i = 0; i < 300; i++) await client.create(`k${i}`, big);
    const events = [(await first).value as WatchEvent, ...(await take(it, 299))];
    expect(events.map((e) => e.revision)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(watch.connections).toBeGreaterThan(1);
    await it.return?.();
  });
});

describe('KvClient.watch against fake servers', () => {
  it('reconnects after the stream ends, asking for the changes after the last revision it delivered', async () => {
    const urls: string[] = [];
    const { client } = await fake((req, res) => {
      urls.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'kv-store-id': 'one' });
      if (urls.length === 1) {
        res.end(
          '{"type":"progress","revision":3}\n{"type":"change","revision":4,"changes":[{"type":"delete","key":"a","revision":4,"reason":"delete"}]}\n',
        );
      } else res.write('{"type":"change","revision":9,"changes":[]}\n');
    });
    const it = client.watch({ prefix: 'a', after: 3, maxRetryDelayMs: 50 })[Symbol.asyncIterator]();
    const events = await take(it, 2);
    await it.return?.();
    expect(events.map((e) => e.revision)).toEqual([4, 9]);
    expect(urls).toEqual(['/v1/?watch=true&prefix=a&after=3', '/v1/?watch=true&prefix=a&after=4']);
  });

  it('a 410 history_compacted is KvHistoryCompactedError, saying how to recover', async () => {
    const { client } = await fake((_req, res) => {
      res.writeHead(410, { 'content-type': 'application/json' });
      res.end('{"error":{"code":"history_compacted","message":"gone","oldestRevision":50}}');
    });
    const err = await client
      .watch({ key: 'a/b', after: 7 })
      [Symbol.asyncIterator]()
      .next()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KvHistoryCompactedError);
    expect(err).toMatchObject({
      status: 410,
      code: 'history_compacted',
      after: 7,
      oldestRevision: 50,
      message: "the store no longer holds every change after revision 7; list again, then watch with after=<the listing's revision>",
    });
  });

  it('a compacted event mid-stream, or another store id on reconnecting, is KvHistoryCompactedError', async () => {
    const { client: compacting } = await fake((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.end('{"type":"compacted","code":"history_compacted","message":"m","oldestRevision":9}\n');
    });
    const first = await compacting
      .watch({ after: 1 })
      [Symbol.asyncIterator]()
      .next()
      .catch((e: unknown) => e);
    expect(first).toMatchObject({ name: 'KvHistoryCompactedError', oldestRevision: 9, after: 1 });

    let n = 0;
    const { client: restarting } = await fake((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'kv-store-id': `store-${++n}` });
      res.end('{"type":"progress","revision":5}\n');
    });
    const second = await restarting
      .watch({ maxRetryDelayMs: 20 })
      [Symbol.asyncIterator]()
      .next()
      .catch((e: unknown) => e);
    expect(second).toBeInstanceOf(KvHistoryCompactedError);
    expect((second as Error).message).toBe(
      "the store's history was lost (its KV-Store-Id changed from store-1 to store-2); list again, then watch with after=<the listing's revision>",
    );
  });

  it('a refusal (400) is a KvError, not retried', async () => {
    let calls = 0;
    const { client } = await fake((_req, res) => {
      calls++;
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"error":{"code":"invalid_query","message":"bad"}}');
    });
    const err = await client
      .watch()
      [Symbol.asyncIterator]()
      .next()
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, code: 'invalid_query', message: 'bad' });
    expect(calls).toBe(1);
  });
});

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
