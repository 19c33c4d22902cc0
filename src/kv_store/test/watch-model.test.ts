import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import type { ChangeBatch } from '../src/store/store.js';
import { FakeClock } from './helpers.js';
import { callApi, readStream } from './support/call-api.js';

/*
 * Model-based: random interleavings of writes (with expiries), paged listings, and watchers
 * that disconnect and resume (with Last-Event-ID, or after=), through the API's door. The
 * model is the store's change log (its feed). At the end every watcher has reconnected and
 * caught up, and its messages must be exactly the log's batches after its start, filtered to
 * what it watches: in revision order, none missing, none twice, a revision's changes together.
 * A listing followed by a watch from its revision must add up to the final state.
 */

const KEYS = ['a', 'a/1', 'a/2', 'b', 'b/1', 'é'];
type Range = { readonly key: string } | { readonly prefix: string; readonly start?: string; readonly end?: string };
const RANGES: readonly Range[] = [
  { prefix: '' },
  { prefix: 'a/' },
  { prefix: 'b' },
  { key: 'a' },
  { prefix: '', start: 'a/2', end: 'b/1' },
];

type Op =
  | { op: 'put'; key: string; value: number; ttl: boolean }
  | { op: 'del'; key: string }
  | { op: 'tick' }
  | { op: 'open'; range: number; form: 'sse' | 'ndjson'; back: number }
  | { op: 'drop'; which: number }
  | { op: 'resume'; which: number }
  | { op: 'settle' }
  | { op: 'list'; limit: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ op: fc.constant('put' as const), key: fc.constantFrom(...KEYS), value: fc.nat(99), ttl: fc.boolean() }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('del' as const), key: fc.constantFrom(...KEYS) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('tick' as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('open' as const),
      range: fc.nat(RANGES.length - 1),
      form: fc.constantFrom('sse' as const, 'ndjson' as const),
      back: fc.nat(6),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('drop' as const), which: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('resume' as const), which: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('settle' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('list' as const), limit: fc.integer({ min: 1, max: 3 }) }) },
);

interface Message {
  readonly revision: number;
  readonly changes: readonly unknown[];
}

interface Watcher {
  readonly query: string;
  readonly form: 'sse' | 'ndjson';
  readonly start: number;
  readonly range: Range;
  /** Change messages received over every connection so far. */
  readonly messages: Message[];
  /** The last revision it knows it has everything up to (an SSE id, an NDJSON revision). */
  last: number;
  connection: ReturnType<typeof readStream> | undefined;
  /** Characters of the current connection's text already parsed. */
  parsed: number;
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

function watches(range: Range, key: string): boolean {
  if ('key' in range) return key === range.key;
  const bytes = (s: string) => Buffer.from(s);
  return (
    key.startsWith(range.prefix) &&
    (range.start === undefined || Buffer.compare(bytes(key), bytes(range.start)) >= 0) &&
    (range.end === undefined || Buffer.compare(bytes(key), bytes(range.end)) < 0)
  );
}

function rangeQuery(range: Range): string {
  if ('key' in range) return `/v1/${encodeURIComponent(range.key)}?watch=true`;
  let q = `/v1/?watch=true&prefix=${encodeURIComponent(range.prefix)}`;
  if (range.start !== undefined) q += `&start=${encodeURIComponent(range.start)}`;
  if (range.end !== undefined) q += `&end=${encodeURIComponent(range.end)}`;
  return q;
}

async function run(ops: readonly Op[]): Promise<void> {
  const clock = new FakeClock();
  const app = buildApp({ config: loadConfig({ KV_LOG_LEVEL: 'silent', KV_MAX_WATCHERS: '1000' }), clock });
  const call = (method: string, url: string, headers: Record<string, string> = {}, payload?: string) =>
    callApi(app.door, {
      method,
      url,
      headers: payload === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      payload,
    });
  const log: ChangeBatch[] = [];
  app.store.subscribe((batch) => log.push(batch));
  const watchers: Watcher[] = [];
  const listings: Array<{ revision: number; state: Map<string, unknown>; watcher: Watcher }> = [];

  /** Reads what a watcher's connection has written since last time. */
  const absorb = (w: Watcher) => {
    const c = w.connection;
    if (c === undefined) return;
    const text = c.text();
    const sep = w.form === 'sse' ? '\n\n' : '\n';
    let end = text.lastIndexOf(sep);
    if (end < w.parsed) return;
    end += sep.length;
    for (const block of text.slice(w.parsed, end).split(sep)) {
      if (w.form === 'sse') {
        const id = /^id: (\d+)$/m.exec(block);
        const event = /^event: (\w+)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event === 'change') w.messages.push(JSON.parse(data as string) as Message);
        if (id !== null) w.last = Number(id[1]);
      } else if (block !== '') {
        const line = JSON.parse(block) as { type: string; revision: number; changes: unknown[] };
        if (line.type === 'change') w.messages.push({ revision: line.revision, changes: line.changes });
        if (line.type === 'change' || line.type === 'progress') w.last = line.revision;
      }
    }
    w.parsed = end;
  };

  const connect = async (w: Watcher) => {
    const headers: Record<string, string> = { accept: w.form === 'sse' ? 'text/event-stream' : 'application/x-ndjson' };
    // SSE resumes as a browser does (Last-Event-ID); NDJSON with after=.
    let url = w.query;
    if (w.form === 'sse') headers['last-event-id'] = String(w.last);
    else url += `&after=${w.last}`;
    const res = await call('GET', url, headers);
    expect(res.statusCode, res.body).toBe(200);
    w.parsed = 0;
    w.connection = readStream(res.stream as NonNullable<typeof res.stream>);
  };

  for (const op of ops) {
    switch (op.op) {
      case 'put': {
        const body = JSON.stringify(op.ttl ? { value: op.value, ttl: 1 } : { value: op.value });
        const res = await call('PUT', `/v1/${encodeURIComponent(op.key)}`, {}, body);
        if (res.statusCode === 404) await call('POST', '/v1/', {}, JSON.stringify({ key: op.key, ...JSON.parse(body) }));
        break;
      }
      case 'del':
        await call('DELETE', `/v1/${encodeURIComponent(op.key)}`);
        break;
      case 'tick':
        clock.advance(1000);
        await call('GET', '/v1/a'); // may commit an expiry
        break;
      case 'open': {
        const range = RANGES[op.range] as Range;
        const start = Math.max(0, app.store.revision - op.back);
        const w: Watcher = {
          query: rangeQuery(range),
          form: op.form,
          start,
          range,
          messages: [],
          last: start,
          connection: undefined,
          parsed: 0,
        };
        watchers.push(w);
        await connect(w);
        break;
      }
      case 'drop': {
        const w = watchers[op.which % Math.max(1, watchers.length)];
        if (w?.connection === undefined) break;
        absorb(w);
        w.connection.stop();
        w.connection = undefined;
        break;
      }
      case 'resume': {
        const w = watchers[op.which % Math.max(1, watchers.length)];
        if (w === undefined || w.connection !== undefined) break;
        await connect(w);
        break;
      }
      case 'settle':
        await settle();
        for (const w of watchers) absorb(w);
        break;
      case 'list': {
        // A whole listing, page by page, with a write between pages; then a watch from its revision.
        const state = new Map<string, unknown>();
        let res = await call('GET', `/v1/?values=true&limit=${op.limit}`);
        const revision = res.json().revision as number;
        for (;;) {
          for (const item of res.json().items) state.set(item.key, item.value);
          const cursor = res.json().cursor as string | null;
          if (cursor === null) break;
          await call('POST', '/v1/', {}, JSON.stringify({ key: `between-${app.store.revision}`, value: 0 }));
          res = await call('GET', `/v1/?values=true&limit=${op.limit}&cursor=${cursor}`);
          expect(res.json().revision).toBe(revision);
        }
        const w: Watcher = {
          query: '/v1/?watch=true',
          form: 'ndjson',
          start: revision,
          range: { prefix: '' },
          messages: [],
          last: revision,
          connection: undefined,
          parsed: 0,
        };
        watchers.push(w);
        listings.push({ revision, state, watcher: w });
        await connect(w);
        break;
      }
    }
  }

  // The store as it is now (a listing commits every due expiry first).
  const now = new Map<string, unknown>();
  let res = await call('GET', '/v1/?values=true&limit=1000');
  for (const item of res.json().items) now.set(item.key, item.value);

  // Everyone reconnects and catches up.
  for (const w of watchers) if (w.connection === undefined) await connect(w);
  await settle();
  await settle();
  for (const w of watchers) absorb(w);

  for (const w of watchers) {
    const want = log
      .filter((b) => b.revision > w.start)
      .map((b) => ({
        revision: b.revision,
        keys: b.changes.filter((c) => watches(w.range, c.key)).map((c) => `${c.type}:${c.key}:${c.revision}`),
      }))
      .filter((b) => b.keys.length > 0);
    const got = w.messages.map((m) => ({
      revision: m.revision,
      keys: (m.changes as Array<{ type: string; key: string; revision: number }>).map((c) => `${c.type}:${c.key}:${c.revision}`),
    }));
    expect(got, `watcher ${w.query} from ${w.start}`).toEqual(want);
    w.connection?.stop();
  }

  // A listing plus the watch from its revision is the store now.
  for (const { state, watcher } of listings) {
    const replayed = new Map(state);
    for (const m of watcher.messages) {
      for (const c of m.changes as Array<{ type: string; key: string; value?: unknown }>) {
        if (c.type === 'put') replayed.set(c.key, c.value);
        else replayed.delete(c.key);
      }
    }
    expect(replayed).toEqual(now);
  }
  res = await call('GET', '/v1/');
  expect(res.statusCode).toBe(200);
  expect(app.watches.watchers).toBe(0);
  await app.close();
}

describe('watchers against the change log (fast-check)', () => {
  it('each watcher, across disconnects and resumes, sees exactly the log after its start: no gap, no duplicate', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 60 }), (ops) => run(ops)),
      { numRuns: 120 },
    );
  });
});
