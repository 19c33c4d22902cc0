import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { errorBodyProblem, errorCode, handlerResponseProblem, isNodeParserAnswer } from './support/contract.js';
import { type KvProcess, mib, startKvStore, stopAllKvStores } from './support/kv-process.js';
import {
  chunked,
  type ExchangeResult,
  jsonRequest,
  RawConnection,
  type RawRequest,
  type RawResponse,
  rawRequest,
} from './support/raw-http.js';
import { type Sentinels, seedSentinels, sentinelChanges } from './support/sentinels.js';

/**
 * A corpus of nasty requests, each sent over a real socket to a real kv_store process (default
 * limits). Each gets the contract's 4xx (or, for broken HTTP, Node's 4xx or a closed
 * connection); values that are legal JSON, however odd, round-trip exactly. After every group
 * the sentinel keys are unchanged, and at the end the process is still up and logged no error.
 */

let kv: KvProcess;
let sentinels: Sentinels;
let fiveXX = 0;
let sent = 0;

beforeAll(async () => {
  kv = await startKvStore({ KV_LOG_LEVEL: 'info' });
  sentinels = await seedSentinels(kv.baseUrl);
});

afterEach(async () => {
  expect(await sentinelChanges(kv.baseUrl, sentinels)).toEqual([]);
  expect(kv.child.exitCode).toBeNull();
});

afterAll(async () => {
  console.log(`nasty corpus: ${sent} requests, ${fiveXX} 5xx`);
  await stopAllKvStores();
});

/** Sends requests on a fresh connection (pipelined if several); `end` half-closes after them. */
async function send(
  requests: RawRequest | readonly RawRequest[],
  options: { end?: boolean; timeoutMs?: number } = {},
): Promise<ExchangeResult> {
  const list = Array.isArray(requests) ? requests : [requests as RawRequest];
  const conn = await RawConnection.open(kv.port);
  try {
    let result = await conn.exchange(list, options.timeoutMs ?? 10_000, options.end ?? false);
    // We closed our side: the server must close too, if only after its answer.
    if (options.end === true && !result.timedOut) result = { ...result, closed: await conn.waitClosed(3000) };
    sent += list.length;
    for (const res of result.responses) if (res.status >= 500) fiveXX++;
    expect(conn.garbage).toBeUndefined();
    return result;
  } finally {
    conn.destroy();
  }
}

/** Asserts kv_store's own answer: this status, the contract body and (if given) this code. */
function expectAnswer(res: RawResponse | undefined, status: number, code?: string, method = 'GET'): RawResponse {
  expect(res, 'an answer').toBeDefined();
  const r = res as RawResponse;
  expect(r.status, r.body.toString('utf8')).toBe(status);
  expect(handlerResponseProblem(r, method)).toBeUndefined();
  if (code !== undefined && method !== 'HEAD') expect(errorCode(r.body)).toBe(code);
  return r;
}

/**
 * Broken HTTP: Node's parser answers a 4xx (no JSON body) and closes, or just closes; where
 * Node lets a quirk through (e.g. `HTTP/2.0` in the request line), kv_store answers a 4xx with
 * the contract's body. Never a 2xx, never a 5xx, never a hang.
 */
function expectRefusedByParser(result: ExchangeResult, label: string): void {
  expect(result.timedOut, `${label}: neither an answer nor a close`).toBe(false);
  const res = result.responses[0];
  if (res !== undefined) {
    expect(res.status, label).toBeGreaterThanOrEqual(400);
    expect(res.status, label).toBeLessThan(500);
    if (!isNodeParserAnswer(res)) {
      expect(handlerResponseProblem(res, 'GET'), `${label}: ${res.body.toString('utf8')}`).toBeUndefined();
      return;
    }
  }
  expect(result.closed, `${label}: connection closed`).toBe(true);
}

/** Creates key → value (JSON text) and checks a GET answers the very same value text. */
async function expectRoundTrip(key: string, valueText: string | Buffer): Promise<void> {
  const body = Buffer.concat([Buffer.from(`{"key":${JSON.stringify(key)},"value":`), Buffer.from(valueText), Buffer.from('}')]);
  const [created] = (await send(jsonRequest('POST', '/v1/', body))).responses;
  expectAnswer(created, 201);
  const [read] = (await send(rawRequest('GET', `/v1/${encodeURIComponent(key)}`))).responses;
  const r = expectAnswer(read, 200);
  const text = r.body.toString('utf8');
  const start = text.indexOf('"value":') + '"value":'.length;
  const end = text.lastIndexOf(',"version":');
  expect(text.slice(start, end) === Buffer.from(valueText).toString('utf8'), `value of ${key} round-trips byte for byte`).toBe(true);
  const [deleted] = (await send(rawRequest('DELETE', `/v1/${encodeURIComponent(key)}`))).responses;
  expectAnswer(deleted, 204);
}

async function expectAbsent(key: string): Promise<void> {
  const [res] = (await send(rawRequest('GET', `/v1/${encodeURIComponent(key)}`))).responses;
  expectAnswer(res, 404, 'key_not_found');
}

const bytes = (...parts: Array<string | number[]>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

describe('nasty corpus against a real kv_store process', () => {
  it('malformed request lines are refused by the HTTP parser (4xx or close), never a 5xx', async () => {
    const lines = [
      'get /v1/a HTTP/1.1',
      'G ET /v1/a HTTP/1.1',
      'FOO /v1/a HTTP/1.1',
      ' /v1/a HTTP/1.1',
      'GET /v1/a HTTP/2.0',
      'GET /v1/a HTTP/1.2',
      'GET /v1/a HTTPS/1.1',
      'GET /v1/a HTTP/1.1 trailing',
      'GET\t/v1/a\tHTTP/1.1',
      'GET /v1/a b HTTP/1.1',
      'GET /v1/a\x00 HTTP/1.1',
      'GET /v1/\x7f HTTP/1.1',
      'GET /v1/\xc3\xa9 HTTP/1.1',
      'GET /v1/\xff\xfe HTTP/1.1',
      'GET /v1/\xc0\xaf HTTP/1.1',
      'GET /v1/\xed\xa0\x80 HTTP/1.1',
      `GET /v1/${'a'.repeat(20_000)} HTTP/1.1`,
      'CONNECT 127.0.0.1:80 HTTP/1.1',
      'PRI * HTTP/2.0',
      '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03',
    ];
    for (const line of lines) {
      const result = await send({ bytes: bytes(`${line}\r\nHost: x\r\n\r\n`), method: 'GET' }, { end: true });
      expectRefusedByParser(result, JSON.stringify(line.slice(0, 40)));
    }
    // HTTP/1.1 without Host is refused by Node; bare LF line ends likewise.
    expectRefusedByParser(await send({ bytes: 'GET /v1/a HTTP/1.1\r\n\r\n', method: 'GET' }, { end: true }), 'no Host');
    expectRefusedByParser(await send({ bytes: 'GET /v1/a HTTP/1.1\nHost: x\n\n', method: 'GET' }, { end: true }), 'bare LF');
  });

  it('huge headers are refused with 431; numerous small headers are served', async () => {
    expectRefusedByParser(await send(rawRequest('GET', '/v1/a', [['X-Huge', 'h'.repeat(20_000)]]), { end: true }), 'one 20 KB header');
    const many = Array.from({ length: 3000 }, (_, i) => [`X-H${i}`, 'v'] as const);
    const tooMany = await send(rawRequest('GET', '/v1/a', many), { end: true });
    expectRefusedByParser(tooMany, '3000 headers (over 16 KiB)');
    expect(tooMany.responses[0]?.status).toBe(431);
    // 2100 tiny headers fit in 16 KiB; Node keeps the first 2000 and kv_store answers as usual.
    const tiny = Array.from({ length: 2100 }, (_, i) => [`h${i % 10}`, 'v'] as const);
    expectAnswer((await send(rawRequest('GET', '/v1/absent-key', tiny))).responses[0], 404, 'key_not_found');
    // Many If-Match headers are joined, not trusted one by one.
    const ifMatch = Array.from({ length: 500 }, () => ['If-Match', '"999999"'] as const);
    expectAnswer(
      (await send(rawRequest('DELETE', `/v1/${encodeURIComponent(sentinels.keys[0] as string)}`, ifMatch))).responses[0],
      412,
      'version_mismatch',
    );
    // Header values with NUL, CR or obs-fold never reach the handler.
    for (const h of ['X-A: a\x00b', 'X-A: a\rb', 'X A: b', 'X-A : b', ': empty']) {
      expectRefusedByParser(
        await send({ bytes: `GET /v1/a HTTP/1.1\r\nHost: x\r\n${h}\r\n\r\n`, method: 'GET' }, { end: true }),
        JSON.stringify(h),
      );
    }
  });

  it('bad percent-encoding and invalid UTF-8 in the path are 400 invalid_key for every method', async () => {
    const segments = [
      '%',
      '%G1',
      '%4',
      'a%2',
      '%%',
      '%C0%AF',
      '%c0%80',
      '%E0%80%AF',
      '%ED%A0%80',
      '%ED%BF%BF',
      '%F4%90%80%80',
      '%FF',
      '%80',
      '%C3',
      '%E2%82',
      '%00',
      'a%00b',
      '%1F',
      '%7F',
      '%2e',
      '%2E%2E',
    ];
    for (const seg of segments) {
      for (const method of ['GET', 'HEAD', 'DELETE', 'PUT']) {
        const req = method === 'PUT' ? jsonRequest('PUT', `/v1/${seg}`, '{"value":1}') : rawRequest(method, `/v1/${seg}`);
        expectAnswer((await send(req)).responses[0], 400, 'invalid_key', method);
      }
    }
    // Overlong keys, in bytes: 513 bytes of 'é' pairs and of ASCII.
    expectAnswer((await send(rawRequest('GET', `/v1/${'%C3%A9'.repeat(257)}`))).responses[0], 400, 'invalid_key');
    expectAnswer((await send(rawRequest('GET', `/v1/${'k'.repeat(513)}`))).responses[0], 400, 'invalid_key');
  });

  it('invalid UTF-8 in a body is 400 invalid_json; lone surrogates escaped in a key are 400 invalid_key', async () => {
    const invalid: Array<[string, number[]]> = [
      ['overlong slash', [0xc0, 0xaf]],
      ['overlong NUL', [0xc0, 0x80]],
      ['overlong 3-byte', [0xe0, 0x80, 0xaf]],
      ['CESU lone surrogate', [0xed, 0xa0, 0x80]],
      ['CESU pair', [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]],
      ['0xFF', [0xff]],
      ['truncated', [0xe2, 0x82]],
      ['past U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
      ['lone continuation', [0x80]],
    ];
    for (const [label, seq] of invalid) {
      for (const body of [bytes('{"key":"u8","value":"', seq, '"}'), bytes('{"key":"u8', seq, '","value":1}')]) {
        expectAnswer((await send(jsonRequest('POST', '/v1/', body))).responses[0], 400, 'invalid_json');
      }
      const put = await send(jsonRequest('PUT', `/v1/${encodeURIComponent(sentinels.keys[1] as string)}`, bytes('{"value":"', seq, '"}')));
      expect(put.responses[0]?.status, label).toBe(400);
    }
    for (const key of ['\\ud800', '\\udfff', 'a\\udc00b', '\\udc00\\ud800']) {
      expectAnswer((await send(jsonRequest('POST', '/v1/', `{"key":"${key}","value":1}`))).responses[0], 400, 'invalid_key');
    }
  });

  it('lone surrogates, NULs and odd escapes inside a value are stored and returned exactly', async () => {
    for (const [i, value] of [
      '"\\ud800"',
      '"\\udfff\\ud800"',
      '"\\u0000"',
      '"a\\u0000b\\u001f\\u007f"',
      '"\\ud83d\\ude00"',
      '"\\/\\b\\f\\n\\r\\t"',
    ].entries()) {
      await expectRoundTrip(`odd-${i}`, value);
    }
  });

  it('NUL bytes: raw in the path or a header is refused by the parser; %00 and \\u0000 in a key are 400', async () => {
    expectRefusedByParser(await send({ bytes: 'GET /v1/a\x00b HTTP/1.1\r\nHost: x\r\n\r\n', method: 'GET' }, { end: true }), 'NUL in path');
    expectRefusedByParser(
      await send({ bytes: 'GET /v1/a HTTP/1.1\r\nHost: x\r\nX-A: \x00\r\n\r\n', method: 'GET' }, { end: true }),
      'NUL in header',
    );
    expectAnswer((await send(rawRequest('GET', '/v1/a%00b'))).responses[0], 400, 'invalid_key');
    expectAnswer((await send(jsonRequest('POST', '/v1/', '{"key":"a\\u0000b","value":1}'))).responses[0], 400, 'invalid_key');
    expectAnswer((await send(jsonRequest('POST', '/v1/', bytes('{"key":"a', [0], 'b","value":1}')))).responses[0], 400, 'invalid_json');
    expectAnswer((await send(jsonRequest('POST', '/v1/', bytes('{"key":"ab","value":1}', [0])))).responses[0], 400, 'invalid_json');
    expectAnswer((await send(jsonRequest('POST', '/v1/', bytes([0], '{"key":"ab","value":1}')))).responses[0], 400, 'invalid_json');
  });

  it('100,000-level nesting is accepted as a value (returned exactly) and refused elsewhere, never a stack overflow', async () => {
    const depth = 100_000;
    await expectRoundTrip('deep-array', `${'['.repeat(depth)}${']'.repeat(depth)}`);
    await expectRoundTrip('deep-object', `${'{"a":'.repeat(depth)}null${'}'.repeat(depth)}`);
    await expectRoundTrip('deep-mixed', `${'[{"a":'.repeat(depth / 2)}1${'}]'.repeat(depth / 2)}`);
    const deepArray = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    expectAnswer((await send(jsonRequest('POST', '/v1/', deepArray))).responses[0], 400, 'invalid_body');
    expectAnswer((await send(jsonRequest('POST', '/v1/', `{"key":${deepArray},"value":1}`))).responses[0], 400, 'invalid_body');
    expectAnswer((await send(jsonRequest('POST', '/v1/', `{"key":"d","value":1,"ttl":${deepArray}}`))).responses[0], 400, 'invalid_body');
    expectAnswer((await send(jsonRequest('POST', '/v1/', `{"key":"d","value":${'['.repeat(depth)}}`))).responses[0], 400, 'invalid_json');
    expectAnswer(
      (await send(jsonRequest('POST', '/v1/', `{"key":"d","value":${'{"a":'.repeat(depth)}`))).responses[0],
      400,
      'invalid_json',
    );
    expectAnswer(
      (await send(jsonRequest('POST', '/v1/', `{"key":"d","value":${'['.repeat(depth)}${']'.repeat(depth - 1)}}`))).responses[0],
      400,
      'invalid_json',
    );
    // A million levels is past the body limit: 413 before any parsing.
    const r = await send(jsonRequest('POST', '/v1/', `{"key":"d","value":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}`));
    expectAnswer(r.responses[0], 413, 'payload_too_large');
  });

  it('duplicate JSON fields are 400 invalid_body at the top level and kept verbatim inside a value', async () => {
    const dups = [
      '{"key":"dup","key":"dup2","value":1}',
      '{"key":"dup","value":1,"value":2}',
      '{"key":"dup","value":1,"ttl":5,"ttl":6}',
      '{"key":"dup","\\u006bey":"dup","value":1}',
      '{"key":"dup","value":1,"v\\u0061lue":2}',
    ];
    for (const body of dups) {
      const res = expectAnswer((await send(jsonRequest('POST', '/v1/', body))).responses[0], 400, 'invalid_body');
      expect(res.body.toString()).toMatch(/appears more than once/);
    }
    expectAnswer(
      (await send(jsonRequest('PUT', `/v1/${encodeURIComponent(sentinels.keys[2] as string)}`, '{"value":1,"value":2}'))).responses[0],
      400,
      'invalid_body',
    );
    await expectAbsent('dup');
    await expectRoundTrip('dup-inside', '{"a":1,"a":2,"b":{"c":[],"c":{}}}');
  });

  it('__proto__ and constructor work as ordinary keys, are unknown top-level fields, and are inert inside values', async () => {
    for (const key of ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf']) {
      const path = `/v1/${key}`;
      expectAnswer((await send(rawRequest('GET', path))).responses[0], 404, 'key_not_found');
      expectAnswer((await send(jsonRequest('PUT', path, '{"value":1}'))).responses[0], 404, 'key_not_found');
      expectAnswer((await send(jsonRequest('POST', '/v1/', `{"key":"${key}","value":{"${key}":{"polluted":true}}}`))).responses[0], 201);
      const read = expectAnswer((await send(rawRequest('GET', path))).responses[0], 200);
      expect(JSON.parse(read.body.toString()).value).toEqual(JSON.parse(`{"${key}":{"polluted":true}}`));
      expectAnswer((await send(jsonRequest('PUT', path, '{"value":2}'))).responses[0], 200);
      expectAnswer((await send(rawRequest('DELETE', path))).responses[0], 204);
      expectAnswer((await send(rawRequest('GET', path))).responses[0], 404, 'key_not_found');
    }
    for (const field of ['__proto__', 'constructor', 'prototype']) {
      const res = expectAnswer(
        (await send(jsonRequest('POST', '/v1/', `{"${field}":{"key":"x"},"key":"p","value":1}`))).responses[0],
        400,
        'invalid_body',
      );
      expect(res.body.toString()).toContain(field);
    }
    await expectRoundTrip('proto-value', '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}');
    // Nothing leaked into other objects: a fresh empty-object value reads back empty.
    await expectRoundTrip('after-proto', '{}');
  });

  it('numbers past double range are stored as written; as a ttl they are 400 invalid_body', async () => {
    for (const [i, n] of ['1e999', '-1e999', '1E-999', '-0', '0.1e400', '123456789012345678901234567890', '5e-324'].entries()) {
      await expectRoundTrip(`num-${i}`, n);
    }
    for (const ttl of ['1e999', '-1e999', '1e-999', '-0', '0', '-1', '1000000001', '"10"', 'null', 'true']) {
      expectAnswer((await send(jsonRequest('POST', '/v1/', `{"key":"ttl-bad","value":1,"ttl":${ttl}}`))).responses[0], 400, 'invalid_body');
    }
    await expectAbsent('ttl-bad');
  });

  it('bodies far over the limit are refused with 413 without being read into memory', async () => {
    // Declared: refused on Content-Length alone.
    const declared = await send(
      rawRequest(
        'POST',
        '/v1/',
        [
          ['Content-Type', 'application/json'],
          ['Content-Length', String(10 ** 15)],
        ],
        '{"key":',
      ),
    );
    expectAnswer(declared.responses[0], 413, 'payload_too_large');
    expect(declared.closed || declared.responses[0]?.headers.connection === 'close').toBe(true);
    // A value just over 1 MiB inside a body under the body limit: 413 value_too_large.
    const over = `"${'v'.repeat(1_048_576 - 1)}"`;
    expectAnswer((await send(jsonRequest('POST', '/v1/', `{"key":"big","value":${over}}`))).responses[0], 413, 'value_too_large');
    await expectAbsent('big');
    // Streamed: 64 MiB of chunks; the server must answer 413 and close long before the end.
    const rssBefore = kv.rssBytes() as number;
    const streamed = await streamChunked(64 * 1_048_576);
    expect(streamed.status).toBe(413);
    expect(errorBodyProblem(413, streamed.body)).toBeUndefined();
    expect(errorCode(streamed.body)).toBe('payload_too_large');
    expect(streamed.bytesSent, 'the server stopped reading early').toBeLessThan(32 * 1_048_576);
    const rssAfter = kv.rssBytes() as number;
    expect(rssAfter - rssBefore, `RSS ${mib(rssBefore)} -> ${mib(rssAfter)}`).toBeLessThan(48 * 1_048_576);
  });

  it('Content-Length + Transfer-Encoding smuggling is refused and the smuggled request never runs', async () => {
    const inner = '{"key":"smuggled","value":1}';
    const smuggled = `POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${inner.length}\r\n\r\n${inner}`;
    const head = 'POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n';
    const attacks = [
      `${head}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
      `${head}Transfer-Encoding: chunked\r\nContent-Length: ${smuggled.length + 5}\r\n\r\n0\r\n\r\n${smuggled}`,
      `${head}Content-Length: 4\r\nContent-Length: ${smuggled.length + 4}\r\n\r\n{}{}${smuggled}`,
      `${head}Content-Length: 2, ${smuggled.length + 2}\r\n\r\n{}${smuggled}`,
      `${head}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${smuggled}`,
      `${head}Transfer-Encoding: identity\r\nContent-Length: 2\r\n\r\n{}${smuggled}`,
      `${head}Transfer-Encoding: xchunked\r\nContent-Length: 2\r\n\r\n{}${smuggled}`,
      `${head}Transfer-Encoding : chunked\r\nContent-Length: 2\r\n\r\n{}${smuggled}`,
      `${head}Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n${smuggled}`,
      `${head}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n${smuggled}`,
      `${head}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n{}\r\n0\r\n\r\n${smuggled}`,
      `${head}Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n${smuggled}`,
      `${head}Transfer-Encoding: chunked\r\n\r\n2;${'x'.repeat(20_000)}\r\n{}\r\n0\r\n\r\n${smuggled}`,
      `${head}Content-Length: -1\r\n\r\n${smuggled}`,
      `${head}Content-Length: 0x10\r\n\r\n${smuggled}`,
      `${head}Content-Length: +2\r\n\r\n{}${smuggled}`,
      `${head}Content-Length: 99999999999999999999999\r\n\r\n${smuggled}`,
      `POST /v1/ HTTP/1.0\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n{}${smuggled}`,
    ];
    for (const attack of attacks) {
      const result = await send({ bytes: attack, method: 'POST' }, { end: true });
      expect(result.timedOut, JSON.stringify(attack.slice(0, 120))).toBe(false);
      for (const res of result.responses) {
        expect(res.status, JSON.stringify(attack.slice(0, 120))).toBeLessThan(500);
        if (!isNodeParserAnswer(res)) expect(handlerResponseProblem(res, 'POST')).toBeUndefined();
      }
      await expectAbsent('smuggled');
    }
  });

  it('1000 pipelined requests are all answered, in order, and a hostile one in the middle harms nothing', async () => {
    const requests: RawRequest[] = [];
    for (let i = 0; i < 250; i++) {
      const key = `pipe-${i}`;
      requests.push(
        jsonRequest('POST', '/v1/', `{"key":"${key}","value":${i}}`),
        i % 50 === 25 ? jsonRequest('POST', '/v1/', bytes('{"key":"x","value":"', [0xff], '"}')) : rawRequest('GET', `/v1/${key}`),
        jsonRequest('PUT', `/v1/${key}`, `{"value":${i + 1}}`),
        rawRequest('DELETE', `/v1/${key}`),
      );
    }
    const result = await send(requests, { timeoutMs: 30_000 });
    expect(result.responses).toHaveLength(1000);
    for (let i = 0; i < 250; i++) {
      const [post, get, put, del] = result.responses.slice(4 * i, 4 * i + 4) as [RawResponse, RawResponse, RawResponse, RawResponse];
      expect(JSON.parse(expectAnswer(post, 201).body.toString())).toMatchObject({ key: `pipe-${i}`, value: i, version: 1 });
      if (i % 50 === 25) expectAnswer(get, 400, 'invalid_json');
      else expect(JSON.parse(expectAnswer(get, 200).body.toString())).toMatchObject({ key: `pipe-${i}`, value: i });
      expect(JSON.parse(expectAnswer(put, 200).body.toString())).toMatchObject({ key: `pipe-${i}`, value: i + 1, version: 2 });
      expectAnswer(del, 204);
    }
  });

  it('a request the parser refuses ends the pipeline: what came before is answered, what came after never runs', async () => {
    const result = await send(
      [
        jsonRequest('POST', '/v1/', '{"key":"before-broken","value":1}'),
        { bytes: 'GET /v1/a HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n', method: 'GET' },
        jsonRequest('POST', '/v1/', '{"key":"after-broken","value":1}'),
      ],
      { end: true },
    );
    expectAnswer(result.responses[0], 201);
    expect(result.responses[1]?.status).toBe(400);
    expect(result.responses).toHaveLength(2);
    expect(result.closed).toBe(true);
    await expectAbsent('after-broken');
    expectAnswer((await send(rawRequest('DELETE', '/v1/before-broken'))).responses[0], 204);
  });

  it('is still up afterwards: healthz answers, no 5xx was seen, nothing was logged at error level', async () => {
    const health = await fetch(`${kv.baseUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(fiveXX).toBe(0);
    expect(kv.child.exitCode).toBeNull();
    const errors = kv.stdout.filter((line) => /"level":(50|60)/.test(line));
    expect(errors).toEqual([]);
    expect(kv.stderr.filter((l) => l.trim() !== '')).toEqual([]);
  });
});

/** Streams a chunked POST of up to `total` bytes; stops when the server answers or closes. */
function streamChunked(total: number): Promise<{ status: number; body: Buffer; bytesSent: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port: kv.port, host: '127.0.0.1' });
    const chunk = chunked(Buffer.alloc(64 * 1024, 0x61)).subarray(0, -5); // one 64 KiB chunk, no terminator
    let sent = 0;
    let received = Buffer.alloc(0);
    let stopped = false;
    const timer = setTimeout(() => finish(), 20_000);
    const finish = (): void => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      socket.destroy();
      const text = received.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})[\s\S]*?\r\n\r\n/.exec(text);
      if (m === null) {
        reject(new Error(`no answer to a streamed body after ${sent} bytes: ${JSON.stringify(text.slice(0, 200))}`));
        return;
      }
      resolve({ status: Number(m[1]), body: received.subarray(m[0].length), bytesSent: sent });
    };
    socket.on('data', (d: Buffer) => {
      received = Buffer.concat([received, d]);
      if (received.includes('}}')) finish();
    });
    // EPIPE while we still write is expected once the server has answered; the answer may still
    // be in flight, so only the close ends the wait.
    socket.on('error', () => undefined);
    socket.on('close', () => finish());
    socket.once('connect', () => {
      socket.write('POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
      const pump = (): void => {
        while (!stopped && sent < total) {
          sent += chunk.length;
          if (!socket.write(chunk)) {
            socket.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
  });
}
