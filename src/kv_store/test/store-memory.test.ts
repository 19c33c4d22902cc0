import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { callApi as inject } from './support/call-api.js';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import { FakeClock } from './helpers.js';

// Memory, not time: these compare what the store charges with what the V8 heap really holds.
setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

/** What the last measurement built, kept reachable until the next one starts. */
const alive: unknown[] = [];

/** The JavaScript heap plus ArrayBuffer memory (where the store's number columns live). */
function used(): number {
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/** Bytes the heap (and ArrayBuffers) grow by while `build` runs, with its result still alive. */
async function heapGrowth(build: () => Promise<unknown>): Promise<number> {
  alive.length = 0;
  gc();
  gc();
  const before = used();
  alive.push(await build());
  gc();
  gc();
  return used() - before;
}

/** What `n` entries cost in a fresh store: bytes charged and bytes of heap. The store never escapes. */
async function storeCost(n: number, keyLength: number, valueLength: number, ttlSeconds: number | undefined) {
  // Fresh strings, as the HTTP layer stores them.
  const own = (s: string) => Buffer.from(s).toString();
  let charged = 0;
  const growth = await heapGrowth(async () => {
    // Without change history: it is a bounded cost of the store (KV_WATCH_HISTORY_BYTES), not one of each entry.
    const store = new MemoryStore({ clock: new FakeClock(), history: { maxRevisions: 0 } });
    for (let i = 0; i < n; i++) {
      store.create(own(String(i).padStart(keyLength, 'k')), own(String(i).padStart(valueLength, '0')), {
        ttlMs: ttlSeconds === undefined ? undefined : ttlSeconds * 1000,
      });
    }
    charged = store.usedBytes;
    return store;
  });
  return { charged, growth };
}

const MIB = 1_048_576;
const JSON_HEADERS = { 'content-type': 'application/json' };

describe('memory an entry really holds', () => {
  it('a stored value does not keep its request body alive (fixed bug: values were slices of the body)', async () => {
    const padding = ' '.repeat(100_000);
    const store = new MemoryStore({ clock: new FakeClock() });
    const app = buildApp({ config: loadConfig({ KV_LOG_LEVEL: 'silent' }), store });
    await app.close();
    const growth = await heapGrowth(async () => {
      for (let i = 0; i < 300; i++) {
        const payload = `{"key":"k${i}","value":"a value longer than thirteen characters"${padding}}`;
        const res = await inject(app.door, { method: 'POST', url: '/v1/', headers: JSON_HEADERS, payload });
        expect(res.statusCode).toBe(201);
      }
      return app;
    });
    // 300 bodies of 100 kB would be 30 MB; the entries themselves are about 70 kB, in a record
    // slab reserved 4 MiB at a time: what counts is the growth beyond it.
    expect(growth - store.reservedBytes).toBeLessThan(5 * MIB);
    expect(store.usedBytes).toBeLessThan(100_000);
  });

  it('a key taken from a PUT path does not keep the URL and its query string alive (fixed bug)', async () => {
    const query = `?pad=${'q'.repeat(100_000)}`;
    const app = buildApp({ config: loadConfig({ KV_LOG_LEVEL: 'silent' }), clock: new FakeClock() });
    app.close();
    const keys = Array.from({ length: 300 }, (_, i) => `a-key-of-some-length-${i}`);
    for (const key of keys) {
      await inject(app.door, { method: 'POST', url: '/v1/', headers: JSON_HEADERS, payload: JSON.stringify({ key, value: 1 }) });
    }
    const growth = await heapGrowth(async () => {
      for (const key of keys) {
        const res = await inject(app.door, { method: 'PUT', url: `/v1/${key}${query}`, headers: JSON_HEADERS, payload: '{"value":2}' });
        expect(res.statusCode).toBe(200);
      }
      return app;
    });
    expect(growth).toBeLessThan(5 * MIB);
  });

  it('the charge stays within a factor of 1.5 of the real memory cost (heap and record slabs)', async () => {
    for (const ttlSeconds of [undefined, 600]) {
      for (const [keyLength, valueLength] of [
        [8, 8],
        [40, 200],
      ] as const) {
        const { charged, growth } = await storeCost(50_000, keyLength, valueLength, ttlSeconds);
        const label = `ttl ${ttlSeconds}, key ${keyLength}, value ${valueLength}: charged/heap`;
        expect(charged / growth, label).toBeGreaterThan(1 / 1.5);
        expect(charged / growth, label).toBeLessThan(1.5);
      }
    }
  });
});
