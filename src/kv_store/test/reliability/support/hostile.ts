import fc from 'fast-check';
import { chunked, type RawRequest, rawRequest } from './raw-http.js';

/**
 * fast-check arbitraries for hostile HTTP requests against kv_store, in three kinds:
 * - framed: well-formed HTTP/1.1 with exact framing and hostile content (keys, bodies, headers);
 *   kv_store's handler must answer each on the same keep-alive connection.
 * - closing: well-framed but over the body limit; answered (413) and then the connection closes.
 * - broken: HTTP that Node's parser refuses (400/431) or drops; only ever the last on a socket.
 */

/** Limits of the fuzz server, small so that "over the limit" is cheap to send. */
export const FUZZ_LIMITS = { maxKeyBytes: 64, maxValueBytes: 2048 } as const;
/** The fuzz server's body limit: value + 6 * key + 1024 (config.ts minBodyBytes). */
export const FUZZ_MAX_BODY = FUZZ_LIMITS.maxValueBytes + 6 * FUZZ_LIMITS.maxKeyBytes + 1024;

/** Keys the fuzz writes to often, so 409, 412 and overwrites happen. Sentinels are never among them. */
export const POOL_KEYS = Array.from({ length: 12 }, (_, i) => `fz-${i}`);
/** The key a smuggled request would create; it must never exist. */
export const SMUGGLED_KEY = 'smuggled-7f3a9c';

export interface FuzzRequest extends RawRequest {
  readonly kind: 'framed' | 'closing' | 'broken';
  /** A short description for failure messages. */
  readonly label: string;
}

/** The request's bytes as a JSON string (latin1), cut at `max` characters. */
export function showBytes(req: RawRequest, max = 2000): string {
  const text = typeof req.bytes === 'string' ? req.bytes : req.bytes.toString('latin1');
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}...(${text.length} bytes)` : text);
}

/** A FuzzRequest that fast-check prints by its label, so counterexamples stay readable. */
function fuzzRequest(raw: RawRequest, kind: FuzzRequest['kind'], label: string): FuzzRequest {
  return { ...raw, kind, label, [fc.toStringMethod]: () => `<${kind} ${label}>` } as FuzzRequest;
}

// --- keys and targets ---------------------------------------------------------------------------

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((u) => String.fromCharCode(u));
/** One code point of any kind, or a lone surrogate half. */
const anyUnit = fc.oneof({ weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) }, loneSurrogate);
const anyString = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: anyUnit, maxLength });

const KEEP_RAW = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]$/;

/** Percent-encodes each UTF-16 unit's WTF-8 bytes, so a lone surrogate becomes %ED%A0%80 and so on. */
function wtf8(unit: number): number[] {
  if (unit < 0x80) return [unit];
  if (unit < 0x800) return [0xc0 | (unit >> 6), 0x80 | (unit & 0x3f)];
  return [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)];
}

function pct(byte: number, lower: boolean): string {
  const hex = byte.toString(16).padStart(2, '0');
  return `%${lower ? hex : hex.toUpperCase()}`;
}

/** Encodes a string for a path, raw where the URL allows it; pairs become 4-byte UTF-8. */
export function encodePath(s: string, lower = false): string {
  let out = '';
  for (const ch of s) {
    if (KEEP_RAW.test(ch)) {
      out += ch;
    } else if (ch.length === 2) {
      out += [...Buffer.from(ch, 'utf8')].map((b) => pct(b, lower)).join('');
    } else {
      out += wtf8(ch.charCodeAt(0))
        .map((b) => pct(b, lower))
        .join('');
    }
  }
  return out;
}

const NASTY_SEGMENTS = [
  '%',
  '%G0',
  '%4',
  '%%',
  'a%2',
  '%u0041',
  '%C0%AF',
  '%c0%80',
  '%E0%80%AF',
  '%ED%A0%80',
  '%ED%BF%BF',
  '%ED%A0%80%ED%B0%80',
  '%F4%90%80%80',
  '%F8%88%80%80%80',
  '%FF',
  '%FE%FF',
  '%80',
  '%C3',
  '%E2%82',
  '%00',
  'a%00b',
  '%1F',
  '%7F',
  '%0A',
  '%0D%0A',
  '.',
  '..',
  '%2e',
  '%2E%2e',
  '%2F',
  '%2F%2F',
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'toString',
  '%5F%5Fproto%5F%5F',
];

const keySegment: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...POOL_KEYS) },
  { weight: 3, arbitrary: fc.tuple(anyString(24), fc.boolean()).map(([s, lower]) => encodePath(s, lower)) },
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 24 }).map((bytes) => [...bytes].map((b) => pct(b, false)).join('')) },
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_SEGMENTS) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom(...NASTY_SEGMENTS), fc.constantFrom(...POOL_KEYS)).map(([a, b]) => `${b}${a}`),
  },
  { weight: 1, arbitrary: fc.integer({ min: FUZZ_LIMITS.maxKeyBytes - 2, max: 4000 }).map((n) => 'k'.repeat(n)) },
  { weight: 1, arbitrary: fc.integer({ min: 20, max: 1000 }).map((n) => '%C3%A9'.repeat(n)) },
);

const query = fc.option(
  fc.stringMatching(/^[A-Za-z0-9=&%._~+-]{0,60}$/).map((q) => `?${q}`),
  { nil: '', freq: 4 },
);

const target: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(keySegment, query).map(([k, q]) => `/v1/${k}${q}`) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '/',
      '/v1',
      '/v1/',
      '/v1/?key=x',
      '/healthz',
      '/healthz?x=1',
      '/HEALTHZ',
      '/healthz/',
      '/v1//',
      '/v1//fz-1',
      '/v2/fz-1',
      '/V1/fz-1',
      '/%76%31/fz-1',
      '/v1%2Ffz-1',
      'http://127.0.0.1/v1/fz-1',
      '/v1/fz-1#frag',
      '/..%2Fv1/fz-1',
    ),
  },
);

// --- headers -----------------------------------------------------------------------------------

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json;charset=latin1',
  'application/json;',
  'application/jsonp',
  'application/json-patch+json',
  'text/plain',
  'text/json',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded',
  '*/*',
  '',
];

const etagish = fc.oneof(
  fc.constantFrom(
    '*',
    '"1"',
    '"0"',
    '"999999999999999"',
    '"9999999999999999999999"',
    'W/"1"',
    '"abc"',
    '""',
    '"1", "2"',
    '"-1"',
    ',,,',
    '"1',
  ),
  fc.nat({ max: 5000 }).map((n) => `"${n}"`),
  fc.stringMatching(/^[\x21-\x7e ]{0,40}$/),
);

const tokenChars = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,24}$/;
const headerValue = fc.stringMatching(/^[\x21-\x7e][\x20-\x7e]{0,200}$/);

const extraHeaders = fc.array(
  fc.tuple(
    fc.stringMatching(tokenChars).filter((n) => !/^(host|content-length|transfer-encoding|connection|expect|upgrade|te|trailer)$/i.test(n)),
    headerValue,
  ),
  { maxLength: 30 },
);

// --- bodies ------------------------------------------------------------------------------------

const SPECIAL_VALUES = [
  '1e999',
  '-1e999',
  '1E-999',
  '-0',
  '0.1e400',
  '123456789012345678901234567890',
  '"\\ud800"',
  '"\\udfff\\ud800"',
  '"\\ud83d\\ude00"',
  '"\\u0000"',
  '"\\u0000\\u001f\\u007f"',
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  '{"a":1,"a":2}',
  '[]',
  '{}',
  '""',
  'null',
  'true',
  '"</script>"',
];

const deep = fc
  .tuple(fc.integer({ min: 2, max: 1500 }), fc.boolean())
  .map(([depth, object]) => (object ? `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}` : `${'['.repeat(depth)}${']'.repeat(depth)}`));

const valueText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null') },
  { weight: 2, arbitrary: anyString(30).map((s) => JSON.stringify(s)) },
  { weight: 2, arbitrary: fc.constantFrom(...SPECIAL_VALUES) },
  { weight: 1, arbitrary: deep },
  {
    weight: 1,
    arbitrary: fc.integer({ min: FUZZ_LIMITS.maxValueBytes - 4, max: FUZZ_LIMITS.maxValueBytes + 200 }).map((n) => `"${'v'.repeat(n)}"`),
  },
);

const keyText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...POOL_KEYS).map((k) => JSON.stringify(k)) },
  { weight: 3, arbitrary: anyString(24).map((s) => JSON.stringify(s)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('"\\ud800"', '"a\\udc00"', '"\\u0000"', '"."', '".."', '""', '"__proto__"', '"constructor"', '"a\\u007fb"'),
  },
  { weight: 1, arbitrary: fc.constantFrom('1', 'null', 'true', '[]', '{}', '["fz-1"]') },
  { weight: 1, arbitrary: fc.integer({ min: FUZZ_LIMITS.maxKeyBytes - 2, max: 400 }).map((n) => `"${'k'.repeat(n)}"`) },
);

const ttlText = fc.oneof(
  fc.constantFrom(
    '1',
    '0',
    '-1',
    '1e999',
    '1e-300',
    '0.001',
    '"10"',
    'null',
    'true',
    '1000000001',
    '1000000000',
    '3600',
    '-0',
    'NaN',
    '[]',
  ),
  fc.double({ noNaN: true }).map((d) => JSON.stringify(d)),
);

const memberName = fc.constantFrom(
  'key',
  'key',
  'value',
  'value',
  'ttl',
  '__proto__',
  'constructor',
  'prototype',
  'extra',
  'Key',
  '\\u006bey',
  'val\\u0075e',
  '',
  'value ',
);

const member = memberName.chain((name) => {
  const bare = name.replace(/\\u006b/, 'k').replace(/\\u0075/, 'u');
  const text = bare === 'key' ? keyText : bare === 'ttl' ? ttlText : valueText;
  return text.map((t) => `"${name}":${t}`);
});

const space = fc.constantFrom('', '', '', ' ', '\n', '\t', '\r\n  ');

/** A JSON object text with hostile members: duplicates, prototype names, unknown fields. */
const objectBody = fc
  .tuple(
    fc.oneof(
      { weight: 3, arbitrary: fc.tuple(keyText, valueText).map(([k, v]) => [`"key":${k}`, `"value":${v}`]) },
      { weight: 2, arbitrary: fc.tuple(keyText, valueText, ttlText).map(([k, v, t]) => [`"key":${k}`, `"value":${v}`, `"ttl":${t}`]) },
      { weight: 1, arbitrary: valueText.map((v) => [`"value":${v}`]) },
      { weight: 3, arbitrary: fc.array(member, { maxLength: 5 }) },
    ),
    space,
    space,
  )
  .map(([members, a, b]) => `${a}{${b}${members.join(`,${b}`)}${b}}${a}`);

const nonObjectBody = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v) ?? 'null'),
  fc.constantFrom('', ' ', '{', '}', '{"key":', '{"key":"a","value":}', "{'key':'a'}", '{"key":"a","value":1,}', 'undefined', 'NaN'),
);

const INSERTIONS = [
  [0x00],
  [0xc0, 0xaf],
  [0xe0, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xff],
  [0xfe, 0xff],
  [0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0x0a],
];

/** Corrupts a body: truncate, insert invalid UTF-8 / NUL, flip a byte, or add a BOM. */
const mutated = fc
  .tuple(objectBody, fc.nat(), fc.nat({ max: 4 }), fc.constantFrom(...INSERTIONS), fc.nat({ max: 255 }))
  .map(([text, at, how, insertion, byte]) => {
    const bytes = Buffer.from(text, 'utf8');
    const i = bytes.length === 0 ? 0 : at % bytes.length;
    switch (how) {
      case 0:
        return bytes.subarray(0, i);
      case 1:
        return Buffer.concat([bytes.subarray(0, i), Buffer.from(insertion), bytes.subarray(i)]);
      case 2: {
        const copy = Buffer.from(bytes);
        if (copy.length > 0) copy[i] = byte;
        return copy;
      }
      case 3:
        return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]);
      default:
        return Buffer.concat([bytes, Buffer.from(insertion)]);
    }
  });

const body: fc.Arbitrary<Buffer> = fc
  .oneof(
    { weight: 6, arbitrary: objectBody.map((t) => Buffer.from(t, 'utf8')) },
    { weight: 3, arbitrary: mutated },
    { weight: 1, arbitrary: nonObjectBody.map((t) => Buffer.from(t, 'utf8')) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)) },
  )
  .map((b) => (b.length > FUZZ_MAX_BODY ? b.subarray(0, FUZZ_MAX_BODY) : b));

// --- requests ----------------------------------------------------------------------------------

const method = fc.constantFrom('GET', 'GET', 'HEAD', 'PUT', 'PUT', 'PUT', 'DELETE', 'POST', 'POST', 'POST', 'PATCH', 'OPTIONS', 'TRACE');

/** A well-framed request with hostile content; kv_store must answer it and keep the connection. */
export const framedRequest: fc.Arbitrary<FuzzRequest> = fc
  .record({
    method,
    target,
    // Most POSTs go to the collection, so creates (and 409s) happen.
    toCollection: fc.nat({ max: 9 }).map((n) => n < 8),
    contentType: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) }),
    ifMatch: fc.option(etagish, { nil: undefined, freq: 3 }),
    ifNoneMatch: fc.option(etagish, { nil: undefined, freq: 6 }),
    authorization: fc.option(fc.constantFrom('Bearer x', 'Bearer', 'Basic Zm9vOmJhcg==', 'bearer  token  '), { nil: undefined, freq: 10 }),
    expectContinue: fc.nat({ max: 9 }).map((n) => n === 0),
    extra: extraHeaders,
    body: fc.option(body, { nil: undefined, freq: 8 }),
    withBody: fc.nat({ max: 9 }),
    chunks: fc.option(fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 6 }), { nil: undefined, freq: 5 }),
  })
  .map((r) => {
    const headers: Array<[string, string]> = [];
    if (r.contentType !== undefined) headers.push(['Content-Type', r.contentType]);
    else if (r.method === 'POST' || r.method === 'PUT') headers.push(['Content-Type', 'application/json']);
    if (r.ifMatch !== undefined) headers.push(['If-Match', r.ifMatch]);
    if (r.ifNoneMatch !== undefined) headers.push(['If-None-Match', r.ifNoneMatch]);
    if (r.authorization !== undefined) headers.push(['Authorization', r.authorization]);
    headers.push(...r.extra);
    const wantsBody = r.method === 'POST' || r.method === 'PUT' || r.withBody === 0;
    let payload: Buffer | undefined;
    if (wantsBody) {
      payload = r.body ?? Buffer.alloc(0);
      if (r.expectContinue) headers.push(['Expect', '100-continue']);
      if (r.chunks !== undefined) {
        headers.push(['Transfer-Encoding', 'chunked']);
        payload = chunked(payload, r.chunks);
      }
    }
    const path = r.method === 'POST' && r.toCollection ? '/v1/' : r.target;
    return fuzzRequest(rawRequest(r.method, path, headers, payload), 'framed', `${r.method} ${path.slice(0, 80)}`);
  });

/** Well-framed, but the body is over the limit: 413 payload_too_large, then the connection closes. */
export const closingRequest: fc.Arbitrary<FuzzRequest> = fc
  .record({
    method: fc.constantFrom('POST', 'PUT'),
    key: fc.constantFrom(...POOL_KEYS),
    size: fc.integer({ min: FUZZ_MAX_BODY + 1, max: FUZZ_MAX_BODY * 20 }),
    style: fc.constantFrom('sent', 'declared-only', 'chunked'),
  })
  .map(({ method: m, key, size, style }) => {
    const target = m === 'POST' ? '/v1/' : `/v1/${key}`;
    const big = Buffer.from(`{"key":"${key}","value":"${'x'.repeat(size)}"}`);
    const headers: Array<[string, string]> = [['Content-Type', 'application/json']];
    let raw: RawRequest;
    if (style === 'chunked') {
      raw = rawRequest(m, target, [...headers, ['Transfer-Encoding', 'chunked']], chunked(big, [4096, 4096, 4096]));
    } else if (style === 'declared-only') {
      // Declares a huge body and sends only its first bytes: refused on Content-Length alone.
      raw = rawRequest(m, target, [...headers, ['Content-Length', String(10 ** 12)]], big.subarray(0, 64));
    } else {
      raw = rawRequest(m, target, headers, big);
    }
    return fuzzRequest(raw, 'closing', `${m} ${target} ${style} body of ${size} bytes`);
  });

/** A smuggled request hidden in a body; if it ever ran, SMUGGLED_KEY would exist. */
const SMUGGLED = `POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${
  `{"key":"${SMUGGLED_KEY}","value":1}`.length
}\r\n\r\n{"key":"${SMUGGLED_KEY}","value":1}`;

const BROKEN_TEMPLATES: ReadonlyArray<string | ((r: string) => string)> = [
  'get /v1/fz-1 HTTP/1.1\r\nHost: x\r\n\r\n',
  'G ET /v1/fz-1 HTTP/1.1\r\nHost: x\r\n\r\n',
  'FOO /v1/fz-1 HTTP/1.1\r\nHost: x\r\n\r\n',
  ' /v1/fz-1 HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /v1/fz-1 HTTP/2.0\r\nHost: x\r\n\r\n',
  'GET /v1/fz-1 HTTP/1.2\r\nHost: x\r\n\r\n',
  'GET /v1/fz-1 HTTPS/1.1\r\nHost: x\r\n\r\n',
  'GET /v1/fz-1 HTTP/1.1 extra\r\nHost: x\r\n\r\n',
  'GET  /v1/fz-1  HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET\t/v1/fz-1\tHTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /v1/a b HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /v1/a\x00b HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /v1/a\x7fb HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /v1/a\x01 HTTP/1.1\r\nHost: x\r\n\r\n',
  (r) => `GET /v1/${r} HTTP/1.1\r\nHost: x\r\n\r\n`,
  'GET /v1/fz-1 HTTP/1.1\r\n\r\n',
  'GET /v1/fz-1 HTTP/1.1\nHost: x\n\n',
  'GET /v1/fz-1 HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n',
  'GET /v1/fz-1 HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n',
  'GET /v1/fz-1 HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n',
  'GET /v1/fz-1 HTTP/1.1\r\nHost: x\r\n: empty-name\r\n\r\n',
  'GET /v1/fz-1 HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n',
  'GET /v1/fz-1 HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n',
  'GET /v1/fz-1 HTTP/1.1\r\nHost: x\r\nX-A: a\r\n folded\r\n\r\n',
  (r) => `GET /v1/fz-1 HTTP/1.1\r\nHost: x\r\nX-Huge: ${r.repeat(Math.ceil(20_000 / Math.max(1, r.length)))}\r\n\r\n`,
  () => `GET /v1/fz-1 HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 3000 }, (_, i) => `X-${i}: v`).join('\r\n')}\r\n\r\n`,
  `POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  `POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: ${SMUGGLED.length + 5}\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  `POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nContent-Length: ${SMUGGLED.length + 4}\r\n\r\n{}{}${SMUGGLED}`,
  `POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2, ${SMUGGLED.length + 2}\r\n\r\n{}${SMUGGLED}`,
  `POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  `POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: xchunked\r\nContent-Length: 2\r\n\r\n{}${SMUGGLED}`,
  `POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding : chunked\r\nContent-Length: 2\r\n\r\n{}${SMUGGLED}`,
  `POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  `POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n${SMUGGLED}`,
  `POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n{}\r\n0\r\n\r\n${SMUGGLED}`,
  `POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n${SMUGGLED}`,
  `POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n${SMUGGLED}`,
  `POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 0x10\r\n\r\n${SMUGGLED}`,
  `POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: +2\r\n\r\n{}${SMUGGLED}`,
  `POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999999999999999\r\n\r\n${SMUGGLED}`,
  'CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n',
  'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
  'GET * HTTP/1.1\r\nHost: x\r\n\r\n',
  '\r\n\r\n\r\n\r\n',
  '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n',
  (r) => `${r}\r\n\r\n`,
];

/** HTTP that Node's parser must refuse or drop (or, for a few, that kv_store answers with a 4xx). */
export const brokenRequest: fc.Arbitrary<FuzzRequest> = fc
  .tuple(fc.nat({ max: BROKEN_TEMPLATES.length - 1 }), fc.uint8Array({ minLength: 1, maxLength: 40 }))
  .map(([i, bytes]) => {
    const template = BROKEN_TEMPLATES[i] as string | ((r: string) => string);
    const randomText = Buffer.from(bytes).toString('latin1');
    const text = typeof template === 'string' ? template : template(randomText);
    return {
      bytes: Buffer.from(text, 'latin1'),
      method: 'GET',
      kind: 'broken' as const,
      label: `broken #${i}: ${JSON.stringify(text.slice(0, 80))}`,
    };
  });
