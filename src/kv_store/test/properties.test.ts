import fc from 'fast-check';
import { callApi as inject } from './support/call-api.js';
import { describe, expect, it } from 'vitest';
import { type App, buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { topLevelMembers } from '../src/api/json-members.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import { NEVER } from '../src/store/store.js';
import { StoreError } from '../src/store/store-error.js';

/** A body's ttl in seconds as the store takes it. */
const ttlMs = (ttl: number | undefined): number => (ttl === undefined ? NEVER : ttl * 1000);
import { FakeClock, sync } from './helpers.js';

const RUNS = { numRuns: 300 };
const CONFIG = loadConfig({ KV_LOG_LEVEL: 'silent' });

/** Runs `fn` against a fresh kv_store, so every property run starts from an empty store. */
async function withApp<T>(fn: (app: App) => Promise<T>): Promise<T> {
  const app = buildApp({ config: CONFIG, clock: new FakeClock() });
  try {
    return await fn(app);
  } finally {
    app.close();
  }
}

function post(app: App, body: string) {
  return inject(app.door, { method: 'POST', url: '/v1/', headers: { 'content-type': 'application/json' }, payload: body });
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what keys may not hold
const CONTROL = /[\u0000-\u001f\u007f]/;

function isValidKey(key: string): boolean {
  return key.length > 0 && key.isWellFormed() && !CONTROL.test(key) && key !== '.' && key !== '..' && Buffer.byteLength(key) <= 512;
}

/** Keys drawn from all of Unicode: whole graphemes, raw code points, ASCII, and URL-special characters. */
const validKey = fc
  .oneof(
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
    fc.string({ unit: 'grapheme-composite', minLength: 1, maxLength: 20 }),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
    fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 10 }),
    fc.string({
      unit: fc.constantFrom('/', '.', '%', '?', '#', '+', '&', '=', ' ', '~', '2', 'F', 'é', '🔑'),
      minLength: 1,
      maxLength: 12,
    }),
  )
  .filter(isValidKey);

describe('property: keys survive percent-encoding', () => {
  it('POST with key k, then GET /v1/encodeURIComponent(k) returns k, and Location decodes to k', async () => {
    await fc.assert(
      fc.asyncProperty(validKey, (key) =>
        withApp(async (app) => {
          const created = await post(app, JSON.stringify({ key, value: 1 }));
          expect(created.statusCode).toBe(201);
          const location = created.headers.location as string;
          expect(location.startsWith('/v1/')).toBe(true);
          expect(decodeURIComponent(location.slice(4))).toBe(key);
          const read = await inject(app.door, { method: 'GET', url: `/v1/${encodeURIComponent(key)}` });
          expect(read.statusCode).toBe(200);
          expect(read.json().key).toBe(key);
          expect((await inject(app.door, { method: 'GET', url: location })).body).toBe(read.body);
        }),
      ),
      RUNS,
    );
  });

  it('any spelling of the path names the same key: raw slashes, lower-case hex', async () => {
    const noDotSegment = validKey.filter((key) => key.split('/').every((s) => s !== '.' && s !== '..'));
    await fc.assert(
      fc.asyncProperty(noDotSegment, (key) =>
        withApp(async (app) => {
          expect((await post(app, JSON.stringify({ key, value: 1 }))).statusCode).toBe(201);
          const rawSlashes = `/v1/${key.split('/').map(encodeURIComponent).join('/')}`;
          const lowerHex = `/v1/${encodeURIComponent(key).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())}`;
          for (const url of [rawSlashes, lowerHex]) {
            const read = await inject(app.door, { method: 'GET', url });
            expect(read.statusCode).toBe(200);
            expect(read.json().key).toBe(key);
          }
        }),
      ),
      RUNS,
    );
  });
});

// ---- JSON text with random whitespace, escapes and number spellings ----

const ws = fc.string({ unit: fc.constantFrom(' ', '\t', '\n', '\r'), maxLength: 3 });
const hex4 = (unit: number) => `\\u${unit.toString(16).padStart(4, '0')}`;
const SHORT_ESCAPES = ['\\"', '\\\\', '\\/', '\\b', '\\f', '\\n', '\\r', '\\t'];

/** A JSON string literal: raw characters, \u escapes (even of lone surrogates) and short escapes. */
const stringText = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }).filter((c) => !CONTROL.test(c) && c !== '"' && c !== '\\'),
      fc.integer({ min: 0, max: 0xffff }).map(hex4),
      fc.constantFrom(...SHORT_ESCAPES),
    ),
    { maxLength: 8 },
  )
  .map((parts) => `"${parts.join('')}"`);

const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });

/** A JSON number literal, including ones no float holds exactly (big integers, 1e999). */
const numberText = fc
  .tuple(
    fc.constantFrom('', '-'),
    fc.oneof(
      fc.constant('0'),
      fc.tuple(fc.constantFrom(...'123456789'), digits(0, 25)).map(([a, b]) => a + b),
    ),
    fc.option(
      digits(1, 20).map((d) => `.${d}`),
      { nil: '' },
    ),
    fc.option(
      fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), digits(1, 4)).map((p) => p.join('')),
      { nil: '' },
    ),
  )
  .map((parts) => parts.join(''));

const { value: jsonText } = fc.letrec<{ value: string; array: string; object: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    numberText,
    stringText,
    fc.constantFrom('true', 'false', 'null'),
    tie('array'),
    tie('object'),
  ),
  array: fc
    .tuple(ws, fc.array(fc.tuple(ws, tie('value'), ws), { maxLength: 4 }))
    .map(([empty, items]) => (items.length === 0 ? `[${empty}]` : `[${items.map((i) => i.join('')).join(',')}]`)),
  object: fc
    .tuple(ws, fc.array(fc.tuple(ws, stringText, ws, ws, tie('value'), ws), { maxLength: 4 }))
    .map(([empty, members]) =>
      members.length === 0 ? `{${empty}}` : `{${members.map(([a, k, b, c, v, d]) => `${a}${k}${b}:${c}${v}${d}`).join(',')}}`,
    ),
}));

/** JSON.parse's view of a JSON text, comparable across spellings. */
const canonical = (text: string) => JSON.stringify(JSON.parse(text));

async function expectRoundTrip(app: App, body: string, valueText: string): Promise<void> {
  const created = await post(app, body);
  expect(created.statusCode).toBe(201);
  expect(created.body.startsWith(`{"key":"k","value":${valueText},"version":1,`)).toBe(true);
  expect(JSON.stringify(JSON.parse(created.body).value)).toBe(canonical(valueText));
  const read = await inject(app.door, { method: 'GET', url: '/v1/k' });
  expect(read.body).toBe(created.body);
}

describe('property: values round-trip exactly', () => {
  it('any fc.jsonValue comes back as the same JSON text and the same value', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), (value) =>
        withApp((app) => {
          const text = JSON.stringify(value);
          return expectRoundTrip(app, `{"key":"k","value":${text}}`, text);
        }),
      ),
      RUNS,
    );
  });

  it('any JSON text, with random whitespace, escapes and number spellings, comes back byte for byte', async () => {
    await fc.assert(
      fc.asyncProperty(jsonText, ws, ws, ws, ws, (text, a, b, c, d) =>
        withApp((app) => expectRoundTrip(app, `${a}{"key":"k",${b}"value"${c}:${d}${text}${a}}${b}`, text)),
      ),
      RUNS,
    );
  });
});

describe('property: topLevelMembers agrees with JSON.parse', () => {
  function expectSameView(text: string): void {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const members = topLevelMembers(text);
    expect(members.map((m) => m.name).sort()).toEqual(Object.keys(parsed).sort());
    for (const m of members) {
      const slice = text.slice(m.start, m.end);
      expect(slice.trim()).toBe(slice);
      expect(canonical(slice)).toBe(JSON.stringify(parsed[m.name]));
    }
  }

  it('for random objects stringified with any indentation', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary' }), fc.jsonValue()), fc.integer({ min: 0, max: 4 }), (object, indent) => {
        expectSameView(JSON.stringify(object, null, indent));
      }),
      RUNS,
    );
  });

  it('for random object texts with whitespace and escaped names, giving each value its exact text', () => {
    const members = fc.uniqueArray(fc.tuple(stringText, jsonText, ws, ws, ws, ws), {
      selector: ([name]) => JSON.parse(name) as string,
      maxLength: 6,
    });
    fc.assert(
      fc.property(members, ws, ws, (list, before, after) => {
        const text = `${before}{${list.map(([n, v, a, b, c, d]) => `${a}${n}${b}:${c}${v}${d}`).join(',')}${list.length === 0 ? before : ''}}${after}`;
        const found = topLevelMembers(text);
        expect(found.map((m) => m.name)).toEqual(list.map(([n]) => JSON.parse(n)));
        expect(found.map((m) => text.slice(m.start, m.end))).toEqual(list.map(([, v]) => v));
        expectSameView(text);
      }),
      RUNS,
    );
  });
});

// ExpiryQueue's properties are in expiry-queue.test.ts (the queue holds key hashes since the pause work).

describe('property: MemoryStore agrees with a simple model', () => {
  type Op =
    | { kind: 'create' | 'replace'; key: string; ttl: number | undefined }
    | { kind: 'delete' | 'get'; key: string }
    | { kind: 'advance'; ms: number }
    | { kind: 'sweep'; limit: number };
  const key = fc.constantFrom('a', 'b', 'c');
  const ttl = fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined });
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constantFrom('create' as const, 'replace' as const), key, ttl }),
    fc.record({ kind: fc.constantFrom('delete' as const, 'get' as const), key }),
    fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 3000 }) }),
    fc.record({ kind: fc.constant('sweep' as const), limit: fc.integer({ min: 1, max: 3 }) }),
  );

  it('versions, revisions, expiry and refusals match, whatever the sequence', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const clock = new FakeClock();
        const store = new MemoryStore({ clock, limits: { maxKeys: 2 } });
        type ModelEntry = { value: string; version: number; revision: number; expiresAt: number };
        const model = new Map<string, ModelEntry>();
        let revision = 0;
        const expireDue = (k?: string) => {
          // The model expires lazily too: each expiry is a write and takes a revision.
          for (const [name, e] of model) {
            if ((k === undefined || k === name) && e.expiresAt <= clock.now()) {
              model.delete(name);
              revision++;
            }
          }
        };
        const refused = (fn: () => unknown): string => {
          try {
            fn();
          } catch (err) {
            expect(err).toBeInstanceOf(StoreError);
            return (err as StoreError).reason;
          }
          return 'ok';
        };
        let n = 0;
        for (const o of ops) {
          const value = String(++n);
          if (o.kind === 'advance') {
            clock.advance(o.ms);
          } else if (o.kind === 'sweep') {
            store.sweepExpired(Number.POSITIVE_INFINITY);
            expireDue();
          } else if (o.kind === 'get') {
            expireDue(o.key);
            const e = model.get(o.key);
            expect(store.get(o.key)).toEqual(
              e === undefined ? undefined : expect.objectContaining({ value: e.value, version: e.version, revision: e.revision }),
            );
          } else {
            expireDue(o.key);
            const e = model.get(o.key);
            const expiresAt = 'ttl' in o && o.ttl !== undefined ? clock.now() + o.ttl * 1000 : NEVER;
            if (o.kind === 'create') {
              if (e !== undefined) {
                expect(refused(() => store.create(o.key, value, { ttlMs: ttlMs(o.ttl) }))).toBe('key_exists');
              } else {
                // A full store reclaims every expired entry before refusing.
                if (model.size >= 2) expireDue();
                if (model.size >= 2) {
                  expect(refused(() => store.create(o.key, value, { ttlMs: ttlMs(o.ttl) }))).toBe('insufficient_storage');
                } else {
                  expect(sync(store.create(o.key, value, { ttlMs: ttlMs(o.ttl) })).revision).toBe(revision + 1);
                  model.set(o.key, { value, version: 1, revision: ++revision, expiresAt });
                }
              }
            } else if (o.kind === 'replace') {
              if (e === undefined) {
                expect(refused(() => store.replace(o.key, value, { ttlMs: ttlMs(o.ttl) }))).toBe('key_not_found');
              } else {
                const entry = sync(store.replace(o.key, value, { ttlMs: ttlMs(o.ttl) }));
                model.set(o.key, { value, version: e.version + 1, revision: ++revision, expiresAt });
                expect(entry).toMatchObject({ version: e.version + 1, revision, expiresAt });
              }
            } else if (e === undefined) {
              expect(refused(() => store.delete(o.key))).toBe('key_not_found');
            } else {
              store.delete(o.key);
              model.delete(o.key);
              revision++;
            }
          }
          expect(store.revision).toBe(revision);
        }
      }),
      RUNS,
    );
  });
});
