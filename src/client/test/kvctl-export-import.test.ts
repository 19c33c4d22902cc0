import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KvClient } from '../src/index.js';
import { assertFreshBuild, kvctl } from './kvctl-process.js';
import { type RealStore, startRealStore } from './real-store.js';

/**
 * kvctl export and import as a user runs them: the built binary in a child process between two
 * real kv_stores on 127.0.0.1. Export then import into an empty store reproduces every key, every
 * value byte for byte as JSON text, and every TTL.
 */

const stores: RealStore[] = [];
async function serve(env: Record<string, string> = {}): Promise<{ env: Record<string, string>; real: RealStore; client: KvClient }> {
  const real = await startRealStore(env);
  stores.push(real);
  return { env: { KV_URL: real.url }, real, client: new KvClient({ baseUrl: real.url }) };
}

beforeAll(assertFreshBuild);
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

/** Writes `key` with the value's JSON text as it is (the typed client would re-spell it). */
async function write(client: KvClient, key: string, valueText: string, ttl?: number): Promise<void> {
  const body = `{"key":${JSON.stringify(key)},"value":${valueText}${ttl === undefined ? '' : `,"ttl":${ttl}`}}`;
  const response = await client.request({ method: 'POST', path: '/v1/', bodyText: body });
  if (response.status !== 201) throw new Error(`POST ${body}: ${response.status} ${response.text}`);
}

/** Every live entry of a store as [key, value text, expiresAt in ms (null: never)], in key order. */
async function contents(real: RealStore): Promise<Array<[string, string, number | null]>> {
  const client = new KvClient({ baseUrl: real.url });
  const rows: Array<[string, string, number | null]> = [];
  for await (const { key } of client.list()) {
    const entry = await real.store.get(key);
    if (entry === undefined) throw new Error(`${key} listed but not there`);
    rows.push([key, entry.value, entry.expiresAt === Number.POSITIVE_INFINITY ? null : Math.floor(entry.expiresAt)]);
  }
  return rows;
}

/**
 * Exports `source`, imports into an empty store, and checks that it holds the same keys and
 * value texts, and each expiry no earlier than the original and no later than the import took.
 */
async function expectRoundTrip(source: RealStore): Promise<void> {
  const exported = await kvctl(['export'], { KV_URL: source.url });
  const before = await contents(source);
  expect({ code: exported.code, lines: exported.stdout.split('\n').length - 1 }).toEqual({ code: 0, lines: before.length });
  const target = await serve();
  const t0 = Date.now();
  const imported = await kvctl(['import'], target.env, exported.stdout);
  const t1 = Date.now();
  expect(imported).toEqual({ code: 0, stdout: `imported ${before.length} ${before.length === 1 ? 'entry' : 'entries'}\n`, stderr: '' });
  const after = await contents(target.real);
  expect(after.map(([key, value]) => [key, value])).toEqual(before.map(([key, value]) => [key, value]));
  for (const [i, [key, , expiresAt]] of after.entries()) {
    const original = before[i]?.[2] ?? null;
    if (original === null || expiresAt === null) expect([key, expiresAt], key).toEqual([key, original]);
    else expect(expiresAt - original, key).toSatisfy((late: number) => late >= 0 && late <= t1 - t0);
  }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what keys and raw string characters may not hold
const CONTROL = /[\u0000-\u001f\u007f]/;

// JSON texts as kv_store keeps them: any number spelling, escapes, whitespace (not line breaks: see below).
const ws = fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 2 });
const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });
const numberText = fc
  .tuple(
    fc.constantFrom('', '-'),
    fc.oneof(
      fc.constant('0'),
      fc.tuple(fc.constantFrom(...'123456789'), digits(0, 25)).map(([a, b]) => a + b),
    ),
    fc.option(
      digits(1, 12).map((d) => `.${d}`),
      { nil: '' },
    ),
    fc.option(
      fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), digits(1, 3)).map((p) => p.join('')),
      { nil: '' },
    ),
  )
  .map((parts) => parts.join(''));
const stringText = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }).filter((c) => !CONTROL.test(c) && c !== '"' && c !== '\\'),
      fc.integer({ min: 0, max: 0xffff }).map((u) => `\\u${u.toString(16).padStart(4, '0')}`),
      fc.constantFrom('\\"', '\\\\', '\\/', '\\n', '\\t'),
    ),
    { maxLength: 6 },
  )
  .map((parts) => `"${parts.join('')}"`);
const { value: jsonText } = fc.letrec<{ value: string; array: string; object: string }>((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, numberText, stringText, fc.constantFrom('true', 'false', 'null'), tie('array'), tie('object')),
  array: fc.array(fc.tuple(ws, tie('value'), ws), { maxLength: 3 }).map((items) => `[${items.map((i) => i.join('')).join(',')}]`),
  object: fc
    .array(fc.tuple(stringText, ws, tie('value')), { maxLength: 3 })
    .map((members) => `{${members.map(([k, w, v]) => `${k}:${w}${v}`).join(',')}}`),
}));
const key = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 12 })
  .filter((k) => !CONTROL.test(k) && k !== '.' && k !== '..' && k.isWellFormed());
const ttl = fc.option(fc.constantFrom(3600, 86_400.25, 1_000_000), { nil: undefined });

describe('kvctl export, then import into an empty store', () => {
  it('reproduces every key, value (byte for byte as JSON text) and TTL', async () => {
    const { real, client } = await serve();
    const values: Array<[string, string, number?]> = [
      ['numbers/big', '12345678901234567890'],
      ['numbers/trailing-zero', '1.50'],
      ['numbers/spelled', '[1E2, -0, 0.1e-7, 1e999]'],
      ['strings/escaped', '"\\u00e9\\ud83d\\ude00 \\"quoted\\" back\\\\slash"'],
      ['strings/raw', '"é 😀 日本"'],
      ['spaced', '{ "a" : [ 1 , 2 ] ,\t"b":{} }'],
      ['empty', '[]'],
      ['null', 'null'],
      ['ttl/hour', '{"session":true}', 3600],
      ['ttl/fraction', '"x"', 86_400.0005],
      ['unicode key é/😀 and spaces', 'true'],
    ];
    for (const [k, text, seconds] of values) await write(client, k, text, seconds);
    await expectRoundTrip(real);
  });

  it('property: any keys, JSON texts and TTLs come back the same', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.tuple(key, jsonText, ttl), { selector: ([k]) => k, minLength: 1, maxLength: 25 }),
        async (entries) => {
          const { real, client } = await serve();
          for (const [k, text, seconds] of entries) await write(client, k, text, seconds);
          await expectRoundTrip(real);
          await Promise.all(stores.splice(0).map((s) => s.close()));
        },
      ),
      { numRuns: 6 },
    );
  });

  it('a line break between a value’s tokens becomes a space (an NDJSON line cannot hold one); the rest is kept', async () => {
    const { env, client } = await serve();
    await write(client, 'pretty', '{\n  "a": 1.50,\r\n  "b": [\n    2\n  ]\n}');
    const exported = await kvctl(['export'], env);
    expect(exported).toEqual({
      code: 0,
      stdout: '{"key":"pretty","value":{   "a": 1.50,    "b": [     2   ] },"expiresAt":null}\n',
      stderr: 'exported 1 entry at revision 1\n',
    });
  });
});

describe('kvctl export', () => {
  it('writes the entries under PREFIX, in key order, and names the revision on stderr', async () => {
    const { env, client } = await serve();
    await write(client, 'app/a', '{"x": 1}');
    await write(client, 'other', '2');
    await write(client, 'app/b', '12345678901234567890', 3600);
    const expiresAt = (await client.get('app/b')).expiresAt;
    expect(await kvctl(['export', 'app/'], env)).toEqual({
      code: 0,
      stdout: `{"key":"app/a","value":{"x": 1},"expiresAt":null}\n{"key":"app/b","value":12345678901234567890,"expiresAt":"${expiresAt}"}\n`,
      stderr: 'exported 2 entries at revision 3\n',
    });
    expect(await kvctl(['export', 'none/'], env)).toEqual({ code: 0, stdout: '', stderr: 'exported 0 entries at revision 3\n' });
  });

  it('a missing token is 4, as for every command', async () => {
    const { env } = await serve({ KV_AUTH_TOKEN: 'write-token-1' });
    expect(await kvctl(['export'], env)).toEqual({
      code: 4,
      stdout: '',
      stderr: 'kvctl: this store requires Authorization: Bearer <token> (401 unauthorized)\n',
    });
  });
});

describe('kvctl import', () => {
  it('a key that exists is left as it is and named, the rest imported, exit 3; --overwrite replaces it, exit 0', async () => {
    const { env, client } = await serve();
    await client.create('a', 'kept');
    const lines = '{"key":"a","value":"imported","expiresAt":null}\n{"key":"b","value":1.50,"expiresAt":null}\n';
    expect(await kvctl(['import'], env, lines)).toEqual({
      code: 3,
      stdout: 'imported 1 entry; left 1 that existed\n',
      stderr: "kvctl: key 'a' already exists; left as it is (--overwrite replaces it)\n",
    });
    expect((await client.get('a')).value).toBe('kept');
    expect(await kvctl(['import', '--overwrite', '-o', 'json'], env, lines)).toEqual({
      code: 0,
      stdout: '{"imported":2,"overwritten":2,"expired":0,"existing":[]}\n',
      stderr: '',
    });
    expect((await client.get('a')).value).toBe('imported');
  });

  it('writes in transactions of up to 100, fewer when the store takes fewer ops (KV_MAX_TXN_OPS=7); existing keys among them are named in order', async () => {
    const { env, client } = await serve({ KV_MAX_TXN_OPS: '7' });
    const keys = Array.from({ length: 250 }, (_, i) => `k/${String(i).padStart(3, '0')}`);
    for (const k of ['k/005', 'k/120', 'k/249']) await client.create(k, 'kept');
    const lines = keys.map((k, i) => `{"key":"${k}","value":${i},"expiresAt":null}\n`).join('');
    expect(await kvctl(['import'], env, lines)).toEqual({
      code: 3,
      stdout: 'imported 247 entries; left 3 that existed\n',
      stderr: ['k/005', 'k/120', 'k/249']
        .map((k) => `kvctl: key '${k}' already exists; left as it is (--overwrite replaces it)\n`)
        .join(''),
    });
    const listed = await client.list({ prefix: 'k/', values: true }).toArray();
    expect(listed.map((i) => [i.key, i.value])).toEqual(keys.map((k, i) => [k, ['k/005', 'k/120', 'k/249'].includes(k) ? 'kept' : i]));
  });

  it('an entry already expired is skipped and counted; the remaining time of the others becomes their TTL', async () => {
    const { env, real } = await serve();
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const lines = [
      '{"key":"gone","value":1,"expiresAt":"2001-01-01T00:00:00.000Z"}',
      `{"key":"later","value":2,"expiresAt":"${future}"}`,
      '{"key":"never","value":3}',
      '',
    ].join('\n');
    const t0 = Date.now();
    expect(await kvctl(['import'], env, lines)).toEqual({ code: 0, stdout: 'imported 2 entries; skipped 1 already expired\n', stderr: '' });
    const t1 = Date.now();
    expect(await real.store.get('gone')).toBeUndefined();
    const later = Math.floor((await real.store.get('later'))?.expiresAt ?? 0) - Date.parse(future);
    expect(later).toSatisfy((late: number) => late >= 0 && late <= t1 - t0);
    expect((await real.store.get('never'))?.expiresAt).toBe(Number.POSITIVE_INFINITY);
  });

  it('checks every line before writing: a bad one exits 1 naming it, and nothing is written', async () => {
    const { env, client } = await serve();
    const good = '{"key":"a","value":1,"expiresAt":null}';
    for (const [bad, why] of [
      ['{"key":"b","value":', 'not JSON (Unexpected end of JSON input)'],
      ['[1]', 'not an entry: {"key": ..., "value": ..., "expiresAt": ...}'],
      ['{"key":"b"}', "'value' is missing"],
      ['{"key":2,"value":1}', "'key' must be a string"],
      ['{"key":"b","value":1,"ttl":5}', "unknown field 'ttl'; an entry has key, value and expiresAt"],
      ['{"key":"b","value":1,"expiresAt":"soon"}', "'expiresAt' must be null or a time such as 2030-01-01T00:00:00.000Z"],
      ['{"key":"b","value":1,"value":2}', "field 'value' appears more than once"],
      ['{"key":"a","value":2}', "key 'a' again (line 1); each key once"],
    ]) {
      expect(await kvctl(['import'], env, `${good}\n\n${bad}\n`), bad).toEqual({
        code: 1,
        stdout: '',
        stderr: `kvctl: standard input, line 3: ${why}\nRun 'kvctl import --help' for usage.\n`,
      });
    }
    expect(await client.list().toArray()).toEqual([]);
  });

  it('reads FILE; a refusal other than an existing key stops the import there, saying how far it got (507: 6)', async () => {
    const { env, client } = await serve({ KV_MAX_KEYS: '1' });
    const dir = mkdtempSync(join(tmpdir(), 'kvctl-import-'));
    const file = join(dir, 'backup.ndjson');
    writeFileSync(
      file,
      '{"key":"a","value":1,"expiresAt":null}\n{"key":"b","value":2,"expiresAt":null}\n{"key":"c","value":3,"expiresAt":null}\n',
    );
    expect(await kvctl(['import', file], env)).toEqual({
      code: 6,
      stdout: '',
      stderr:
        "imported 1 entry; stopped at 'b', the rest was not written\n" +
        'kvctl: the store holds its limit of 1 keys (KV_MAX_KEYS); delete keys to make room (507 insufficient_storage)\n',
    });
    expect((await client.list().toArray()).map((i) => i.key)).toEqual(['a']);
    rmSync(dir, { recursive: true, force: true });
  });
});
