import { describe, expect, it } from 'vitest';
import { entry, expectEntry, testApp } from './helpers.js';

/** JSON texts of every type, spelled in ways a re-serializer would change. */
const VALUE_TEXTS = [
  '"bar"',
  '""',
  '"tab\\tquote\\"backslash\\\\slash\\/ \\u00e9 é 🔑 \\ud83d\\udd11"',
  '"\\"value\\": 1, \\"key\\": \\"x\\""',
  '0',
  '-0',
  '1.50',
  '1E+2',
  '-1.5e-7',
  '12345678901234567890',
  '0.1000000000000000000000000001',
  '1e999',
  '-1e999',
  'true',
  'false',
  'null',
  '[]',
  '{}',
  '[1, "two", [3], {"four": 4}, null]',
  '{ "a" : 1 ,\n\t"b" :\r\n[ ] }',
  '{"b":1,"a":2,"10":3,"2":4}',
  '{"a":1,"a":2}',
  '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}',
] as const;

describe('values are returned exactly as they were sent', () => {
  it('every JSON type and spelling survives POST and GET byte for byte', async () => {
    const t = testApp();
    for (const [i, text] of VALUE_TEXTS.entries()) {
      const key = `v${i}`;
      const created = await t.post(`{"key":"${key}","value":${text}}`);
      expect(created.statusCode, text).toBe(201);
      const head = `{"key":"${key}","value":${text},"version":1,"revision":${i + 1},`;
      expect(created.body.startsWith(head), text).toBe(true);
      const read = await t.get(`/v1/${key}`);
      expect(read.body).toBe(created.body);
      expectEntry(read, 200, entry({ key, value: JSON.parse(text), version: 1, revision: i + 1 }));
    }
  });

  it('keeps whitespace inside the value but not around it', async () => {
    const t = testApp();
    const res = await t.post('{ "key" : "w" , "value" :  \n [ 1 ,\t2 ]  \r\n }');
    expect(res.body).toContain('"value":[ 1 ,\t2 ],"version":1');
  });

  it('PUT keeps the new value exactly as sent too', async () => {
    const t = testApp();
    await t.post({ key: 'k', value: 1 });
    const res = await t.put('/v1/k', '{"value":{ "big" : 12345678901234567890 } }');
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('"value":{ "big" : 12345678901234567890 },"version":2');
    expect((await t.get('/v1/k')).body).toBe(res.body);
  });

  it('stores __proto__ and constructor members without polluting any prototype', async () => {
    const t = testApp();
    const text = '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}';
    await t.post(`{"key":"p","value":${text}}`);
    const read = await t.get('/v1/p');
    expect(read.body).toContain(`"value":${text},`);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.hasOwn(read.json().value as object, '__proto__')).toBe(true);
  });

  it('stores 100000 levels of nested arrays and of nested objects', async () => {
    const t = testApp();
    const arrays = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const objects = `${'{"a":'.repeat(100_000)}null${'}'.repeat(100_000)}`;
    for (const [key, text] of [
      ['arrays', arrays],
      ['objects', objects],
    ] as const) {
      const created = await t.post(`{"key":"${key}","value":${text}}`);
      expect(created.statusCode).toBe(201);
      const read = await t.get(`/v1/${key}`);
      expect(read.statusCode).toBe(200);
      expect(read.body.startsWith(`{"key":"${key}","value":${text},"version":1,`)).toBe(true);
    }
  });
});
