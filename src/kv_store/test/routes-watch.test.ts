import { describe, expect, it } from 'vitest';
import type { AnswerStream, StreamSink } from '../src/api/door.js';
import type { MemoryStore } from '../src/store/memory/memory-store.js';
import { expectError, iso, JSON_TYPE, testApp } from './helpers.js';
import { type ApiResponse, readStream } from './support/call-api.js';

const SSE = { accept: 'text/event-stream' };
const NDJSON = { accept: 'application/x-ndjson' };

/** The stream of a watch answer. */
function streamOf(res: ApiResponse): AnswerStream {
  if (res.stream === undefined) throw new Error(`expected a stream, got ${res.statusCode} ${res.body}`);
  return res.stream;
}

/** Waits (a hang guard, not a timing) until `check` holds. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** The SSE events of a stream's text: id, event and parsed data, comments and retry left out. */
function events(text: string): Array<{ id?: string; event: string; data: unknown }> {
  return text
    .split('\n\n')
    .filter((block) => block.includes('data: '))
    .map((block) => {
      const fields: Record<string, string> = {};
      for (const line of block.split('\n')) {
        const colon = line.indexOf(': ');
        if (line.startsWith(':') || colon === -1) continue;
        fields[line.slice(0, colon)] = line.slice(colon + 2);
      }
      return {
        ...(fields.id === undefined ? {} : { id: fields.id }),
        event: fields.event as string,
        data: JSON.parse(fields.data as string),
      };
    });
}

const put = (key: string, value: unknown, version: number, revision: number, extra: Record<string, unknown> = {}) => ({
  type: 'put',
  key,
  value,
  version,
  revision,
  expiresAt: null,
  ...extra,
});
const del = (key: string, revision: number, reason = 'delete', extra: Record<string, unknown> = {}) => ({
  type: 'delete',
  key,
  revision,
  reason,
  ...extra,
});

describe('long-poll watch (wait=<seconds>)', () => {
  it('answers at once with the changes after `after`, in revision order, as the contract shapes them', async () => {
    const t = testApp();
    await t.post({ key: 'a', value: 1 });
    await t.put('/v1/a', { value: { b: [true] } });
    await t.post({ key: 'x', value: 'gone', ttl: 1 });
    await t.delete('/v1/a');
    t.clock.advance(1000);
    await t.get('/v1/x'); // its expiry is committed: revision 5
    const res = await t.get('/v1/?watch=true&after=1&wait=30');
    expect({ status: res.statusCode, body: res.json() }).toEqual({
      status: 200,
      body: {
        revision: 5,
        changes: [put('a', { b: [true] }, 2, 2), put('x', 'gone', 1, 3, { expiresAt: iso(1000) }), del('a', 4), del('x', 5, 'expired')],
        more: false,
      },
    });
    expect(res.headers['content-type']).toBe(JSON_TYPE);
    expect(res.headers['kv-revision']).toBe('5');
  });

  it('values=false leaves values out; prev=true adds what each key held before (null when it was absent)', async () => {
    const t = testApp();
    await t.post({ key: 'a', value: 1 });
    await t.put('/v1/a', { value: 2 });
    await t.delete('/v1/a');
    const res = await t.get('/v1/a?watch=true&after=0&wait=0&values=false&prev=true');
    const { value: _, ...created } = put('a', 1, 1, 1, { prev: null });
    const { value: __, ...replaced } = put('a', 2, 2, 2, { prev: { value: 1, version: 1, revision: 1 } });
    expect(res.json().changes).toEqual([created, replaced, del('a', 3, 'delete', { prev: { value: 2, version: 2, revision: 2 } })]);
  });

  it('waits for the first change it watches when there is none yet; other keys do not end the wait', async () => {
    const t = testApp();
    await t.post({ key: 'a', value: 1 });
    const pending = t.get('/v1/?watch=true&prefix=b&wait=30');
    await t.post({ key: 'a2', value: 1 });
    await t.post({ key: 'b1', value: 'yes' });
    const res = await pending;
    expect(res.json()).toEqual({ revision: 3, changes: [put('b1', 'yes', 1, 3)], more: false });
    expect(res.headers['kv-revision']).toBe('3');
  });

  it('ends its wait with no changes, at the current revision', async () => {
    const t = testApp();
    await t.post({ key: 'a', value: 1 });
    const res = await t.get('/v1/?watch=true&prefix=nothing&wait=0.05');
    expect(res.json()).toEqual({ revision: 1, changes: [], more: false });
    expect((await t.get('/v1/?watch=true&after=1&wait=0')).json()).toEqual({ revision: 1, changes: [], more: false });
  });

  it('hands out at most 1000 changes, whole revisions, with more=true', async () => {
    const t = testApp();
    for (let i = 0; i < 1005; i++) await t.post({ key: `k${i}`, value: i });
    const first = (await t.get('/v1/?watch=true&after=0&wait=0')).json();
    expect({ n: first.changes.length, revision: first.revision, more: first.more }).toEqual({ n: 1000, revision: 1000, more: true });
    const rest = (await t.get(`/v1/?watch=true&after=${first.revision}&wait=0`)).json();
    expect(rest.changes.map((c: { key: string }) => c.key)).toEqual(['k1000', 'k1001', 'k1002', 'k1003', 'k1004']);
  });
});

describe('stream watch (SSE and NDJSON)', () => {
  it('SSE: one event per revision with id = revision, after a progress event saying it has caught up', async () => {
    const t = testApp();
    await t.post({ key: 'k', value: 0 });
    const res = await t.get('/v1/k?watch=true', SSE);
    expect(res.statusCode).toBe(200);
    expect(res.headers).toMatchObject({
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'kv-revision': '1',
    });
    const s = readStream(streamOf(res));
    await t.put('/v1/k', { value: 1 });
    await t.post({ key: 'other', value: 1 });
    await t.delete('/v1/k');
    await until(() => events(s.text()).length === 3, 'three events');
    expect(s.text().startsWith('retry: 1000\n: keepalive\n\n')).toBe(true);
    expect(events(s.text())).toEqual([
      { id: '1', event: 'progress', data: { revision: 1 } },
      { id: '2', event: 'change', data: { revision: 2, changes: [put('k', 1, 2, 2)] } },
      { id: '4', event: 'change', data: { revision: 4, changes: [del('k', 4)] } },
    ]);
    s.stop();
    expect(t.app.watches.watchers).toBe(0);
  });

  it('NDJSON: the same objects, one per line, each with its type; from `after`, history first', async () => {
    const t = testApp();
    await t.post({ key: 'p/a', value: 1 });
    await t.post({ key: 'q', value: 1 });
    await t.post({ key: 'p/b', value: 2 });
    const res = await t.get('/v1/?watch=true&prefix=p%2F&after=1', NDJSON);
    expect(res.headers['content-type']).toBe('application/x-ndjson');
    const s = readStream(streamOf(res));
    await t.delete('/v1/p/a');
    await until(() => s.text().split('\n').length === 4, 'three lines');
    expect(
      s
        .text()
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual([
      { type: 'change', revision: 3, changes: [put('p/b', 2, 1, 3)] },
      { type: 'progress', revision: 3 },
      { type: 'change', revision: 4, changes: [del('p/a', 4)] },
    ]);
    s.stop();
  });

  it('Last-Event-ID wins over after', async () => {
    const t = testApp();
    for (const v of [1, 2, 3]) await t.post({ key: `k${v}`, value: v });
    const res = await t.get('/v1/?watch=true&after=0', { ...SSE, 'last-event-id': '2' });
    const s = readStream(streamOf(res));
    expect(events(s.text()).map((e) => e.id)).toEqual(['3', '3']);
    expect(events(s.text())[0]).toEqual({ id: '3', event: 'change', data: { revision: 3, changes: [put('k3', 3, 1, 3)] } });
    s.stop();
  });

  it("a transaction's changes come in one message, only those the watcher watches", async () => {
    const t = testApp();
    await t.post({ key: 'a/1', value: 0 });
    const res = await t.get('/v1/?watch=true&prefix=a%2F', NDJSON);
    const s = readStream(streamOf(res));
    const store = t.app.store as MemoryStore;
    const change = (key: string) => ({
      type: 'put' as const,
      key,
      value: '9',
      version: 1,
      revision: 2,
      createdAt: 0,
      updatedAt: 0,
      expiresAt: Infinity,
      reason: 'txn' as const,
    });
    store.replay({
      revision: 2,
      changes: [change('a/2'), change('b'), change('a/3'), { type: 'delete', key: 'a/1', revision: 2, reason: 'txn' }],
    });
    await until(() => s.text().split('\n').length === 3, 'two lines');
    const txnPut = (key: string) => ({ ...put(key, 9, 1, 2), expiresAt: null, reason: 'txn' });
    expect(JSON.parse(s.text().split('\n')[1] as string)).toEqual({
      type: 'change',
      revision: 2,
      changes: [txnPut('a/2'), txnPut('a/3'), del('a/1', 2, 'txn')],
    });
    s.stop();
  });

  it('a client that leaves more than KV_WATCH_BUFFER_BYTES unread is cut off with slow_consumer and where to resume', async () => {
    const t = testApp({ KV_WATCH_BUFFER_BYTES: '4096' });
    const res = await t.get('/v1/?watch=true', SSE);
    let text = '';
    let ended = false;
    const sink: StreamSink = {
      write(chunk) {
        text += chunk;
        return false;
      },
      end() {
        ended = true;
      },
      get pending() {
        return Buffer.byteLength(text); // the client reads nothing
      },
      onDrain() {},
    };
    res.stream?.start(sink);
    const big = 'x'.repeat(1000);
    for (let i = 0; i < 20; i++) expect((await t.post({ key: `k${i}`, value: big })).statusCode).toBe(201);
    await until(() => ended, 'the cut-off');
    const all = events(text);
    const resumeAfter = (all.at(-1)?.data as { resumeAfter: number } | undefined)?.resumeAfter ?? -1;
    expect(all.at(-1)).toEqual({
      event: 'error',
      data: {
        code: 'slow_consumer',
        message: `the client left more than 4096 bytes unread (KV_WATCH_BUFFER_BYTES); watch again with after=${resumeAfter}`,
        resumeAfter,
      },
    });
    // Everything up to resumeAfter was written before the error; the writers were never refused.
    const sent = all.filter((e) => e.event === 'change').map((e) => Number(e.id));
    expect(sent).toEqual(Array.from({ length: resumeAfter }, (_, i) => i + 1));
    expect(t.app.store.revision).toBe(20);
    expect(t.app.watches.watchers).toBe(0);
  });

  it('a watcher catching up slower than the history turns over gets event: compacted, and the same request again is 410', async () => {
    const t = testApp({ KV_WATCH_HISTORY: '3' });
    await t.post({ key: 'a', value: 1 });
    const res = await t.get('/v1/?watch=true&after=0', NDJSON);
    let text = '';
    let drained: (() => void) | undefined;
    let ended = false;
    res.stream?.start({
      write(chunk) {
        text += chunk;
        return false; // the client is slow: wait for a drain after every write
      },
      end() {
        ended = true;
      },
      pending: 0,
      onDrain(listener) {
        drained = listener;
      },
    });
    expect(
      text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([{ type: 'change', revision: 1, changes: [put('a', 1, 1, 1)] }]);
    for (let i = 0; i < 5; i++) await t.post({ key: `k${i}`, value: i });
    drained?.();
    expect(ended).toBe(true);
    const message =
      "the history no longer holds the changes after revision 1 this watch needs; list again, then watch with after=<the listing's revision>";
    expect(JSON.parse(text.trimEnd().split('\n').at(-1) as string)).toEqual({
      type: 'compacted',
      code: 'history_compacted',
      message,
      oldestRevision: 4,
    });
    const again = await t.get('/v1/?watch=true&after=1', NDJSON);
    expect({ status: again.statusCode, body: again.json() }).toEqual({
      status: 410,
      body: {
        error: {
          code: 'history_compacted',
          message:
            "the history no longer holds every change after revision 1 (it holds those from revision 4); list again, then watch with after=<the listing's revision>",
          oldestRevision: 4,
        },
      },
    });
    expect(again.headers['kv-revision']).toBe('6');
  });

  it('an idle stream gets progress events (KV_WATCH_PROGRESS_MS)', async () => {
    const t = testApp({ KV_WATCH_PROGRESS_MS: '20' });
    await t.post({ key: 'a', value: 1 });
    const res = await t.get('/v1/?watch=true', SSE);
    const s = readStream(streamOf(res));
    await until(() => events(s.text()).length >= 3, 'progress events');
    expect(events(s.text()).slice(0, 3)).toEqual(Array.from({ length: 3 }, () => ({ id: '1', event: 'progress', data: { revision: 1 } })));
    expect(s.text()).toContain(': keepalive\nid: 1\nevent: progress');
    s.stop();
  });

  it('shutdown (drain) ends every stream and answers every waiting long-poll', async () => {
    const t = testApp();
    const stream = readStream(streamOf(await t.get('/v1/?watch=true', SSE)));
    const poll = t.get('/v1/?watch=true&wait=300');
    await until(() => t.app.watches.watchers === 2, 'two watchers');
    t.app.drain();
    expect(stream.ended()).toBe(true);
    expect((await poll).json()).toEqual({ revision: 0, changes: [], more: false });
    expect(t.app.watches.watchers).toBe(0);
    const late = readStream(streamOf(await t.get('/v1/?watch=true', SSE)));
    expect(late.ended()).toBe(true);
  });
});

describe('watch refusals', () => {
  it('past KV_MAX_WATCHERS: 429 too_many_watchers with Retry-After; a slot comes back when a watcher ends', async () => {
    const t = testApp({ KV_MAX_WATCHERS: '2' });
    const one = readStream(streamOf(await t.get('/v1/?watch=true', SSE)));
    const poll = t.get('/v1/?watch=true&wait=300');
    await until(() => t.app.watches.watchers === 2, 'two watchers');
    const refused = await t.get('/v1/?watch=true', NDJSON);
    expectError(refused, 429, 'too_many_watchers', 'the store serves its limit of 2 watchers (KV_MAX_WATCHERS); retry later');
    expect(refused.headers['retry-after']).toBe('5');
    expect(refused.headers['kv-revision']).toBe('0');
    one.stop();
    const two = await t.get('/v1/?watch=true', NDJSON);
    expect(two.statusCode).toBe(200);
    two.stream?.stop();
    await t.post({ key: 'a', value: 1 });
    expect((await poll).statusCode).toBe(200);
  });

  it('refuses what a watch cannot be, naming the problem', async () => {
    const t = testApp({ KV_READ_TOKEN: 'read-token-1', KV_AUTH_TOKEN: 'write-token-1' });
    const read = { authorization: 'Bearer read-token-1' };
    await t.post({ key: 'a', value: 1 }, { authorization: 'Bearer write-token-1' });
    const cases: Array<[string, Record<string, string>, string, string]> = [
      [
        '/v1/?watch=true',
        {},
        'invalid_query',
        'a watch is a stream or a long-poll: send Accept: text/event-stream (Server-Sent Events) or Accept: application/x-ndjson, or add wait=<seconds> for a long-poll',
      ],
      ['/v1/?watch=true&wait=301', {}, 'invalid_query', "parameter 'wait' must be a number of seconds from 0 to 300, got '301'"],
      ['/v1/?watch=true&wait=-1', {}, 'invalid_query', "parameter 'wait' must be a number of seconds from 0 to 300, got '-1'"],
      [
        '/v1/?watch=true&after=2',
        SSE,
        'invalid_query',
        "revision 2 is after the store's current revision 1: this store has not reached it (a KV-Store-Id other than the one you watched means its history was lost)",
      ],
      [
        '/v1/?watch=true&after=x',
        SSE,
        'invalid_query',
        `parameter 'after' must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, got 'x'`,
      ],
      [
        '/v1/?watch=true',
        { ...SSE, 'last-event-id': 'abc' },
        'invalid_header',
        "Last-Event-ID must be a revision (a whole number), got 'abc'",
      ],
      [
        '/v1/?watch=true&limit=5',
        SSE,
        'invalid_query',
        "unknown parameter 'limit' for a watch; it takes watch, prefix, start, end, after, values, prev, wait",
      ],
      [
        '/v1/a?watch=true&prefix=a',
        SSE,
        'invalid_query',
        "unknown parameter 'prefix' for a key's watch; it takes watch, after, values, prev, wait",
      ],
    ];
    for (const [url, headers, code, message] of cases) expectError(await t.get(url, { ...read, ...headers }), 400, code, message);
    expect((await t.get('/v1/?watch=true&wait=0')).statusCode).toBe(401);
    expect((await t.get('/v1/?watch=true&wait=0', read)).statusCode).toBe(200);
  });

  it('a plain read ignores its query string; watch=false is a plain read', async () => {
    const t = testApp();
    await t.post({ key: 'a', value: 1 });
    expect((await t.get('/v1/a?x=%zz&limit=0')).statusCode).toBe(200);
    expect((await t.get('/v1/a?watch=false')).json()).toMatchObject({ key: 'a', value: 1 });
  });
});
