import { type IncomingHttpHeaders, request } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { minBodyBytes } from '../src/config.js';
import { entry, iso, JSON_TYPE, listen, testApp } from './helpers.js';
import { ResponseParser } from './reliability/support/raw-http.js';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request with node:http, which sends the path exactly as given (fetch would normalize dot segments). */
function send(base: string, method: string, path: string, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/json' };
    const { hostname, port } = new URL(base);
    const req = request({ host: hostname, port, path, method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('over a real socket', () => {
  it('conditional writes as issue 16 has them: If-None-Match on PUT and DELETE, a bare If-Match revision, a malformed If-Match', async () => {
    const t = testApp();
    const base = await listen(t.app);
    const json = { 'content-type': 'application/json' };
    expect((await fetch(`${base}/v1/`, { method: 'POST', headers: json, body: '{"key":"foo","value":1}' })).status).toBe(201);

    const absentOnly = await fetch(`${base}/v1/foo`, { method: 'PUT', headers: { ...json, 'if-none-match': '*' }, body: '{"value":2}' });
    expect(absentOnly.status).toBe(412);
    expect(await absentOnly.json()).toEqual({
      error: {
        code: 'version_mismatch',
        message: `key 'foo' is at revision 1 (ETag "1"), which If-None-Match forbids (*: the key must not exist)`,
      },
    });
    const notThisOne = await fetch(`${base}/v1/foo`, { method: 'DELETE', headers: { 'if-none-match': '"1"' } });
    expect(notThisOne.status).toBe(412);
    expect(await notThisOne.json()).toEqual({
      error: { code: 'version_mismatch', message: `key 'foo' is at revision 1 (ETag "1"), which If-None-Match excludes ("1")` },
    });

    const bare = await fetch(`${base}/v1/foo`, { method: 'PUT', headers: { ...json, 'if-match': '1' }, body: '{"value":2}' });
    expect(bare.status).toBe(200);
    expect(bare.headers.get('etag')).toBe('"2"');
    expect(await bare.json()).toEqual(entry({ key: 'foo', value: 2, version: 2, revision: 2 }));

    const malformed = await fetch(`${base}/v1/foo`, { method: 'DELETE', headers: { 'if-match': 'rev-2' } });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toEqual({
      error: {
        code: 'invalid_header',
        message: `If-Match must be * or a list of ETags such as "35" (the entry's revision in quotes), got 'rev-2'`,
      },
    });
    expect(await (await fetch(`${base}/v1/foo`)).json()).toEqual(entry({ key: 'foo', value: 2, version: 2, revision: 2 }));
  });

  it("the seed README's four curl commands work as written", async () => {
    const t = testApp();
    const base = await listen(t.app);
    const json = { 'Content-Type': 'application/json' };

    // curl -X POST -H "Content-Type: application/json" http://127.0.0.1:8080/v1/ -d '{"key": "foo", "value": "bar"}'
    const created = await fetch(`${base}/v1/`, { method: 'POST', headers: json, body: '{"key": "foo", "value": "bar"}' });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/v1/foo');
    expect(created.headers.get('etag')).toBe('"1"');
    expect(await created.json()).toEqual(entry({ key: 'foo', value: 'bar', version: 1, revision: 1 }));

    // curl -X GET http://127.0.0.1:8080/v1/foo
    const read = await fetch(`${base}/v1/foo`);
    expect(read.status).toBe(200);
    expect(read.headers.get('content-type')).toBe(JSON_TYPE);
    expect(await read.json()).toEqual(entry({ key: 'foo', value: 'bar', version: 1, revision: 1 }));

    // curl -X POST ... -d '{"key": "foo", "value": "bar2"}'  <- this should fail
    const again = await fetch(`${base}/v1/`, { method: 'POST', headers: json, body: '{"key": "foo", "value": "bar2"}' });
    expect(again.status).toBe(409);
    expect(await again.json()).toEqual({
      error: { code: 'key_exists', message: "key 'foo' already exists; use PUT /v1/foo to overwrite it" },
    });

    // curl -X PUT -H "Content-Type: application/json" http://127.0.0.1:8080/v1/foo -d '{"value": "bar2"}'
    const replaced = await fetch(`${base}/v1/foo`, { method: 'PUT', headers: json, body: '{"value": "bar2"}' });
    expect(replaced.status).toBe(200);
    expect(replaced.headers.get('etag')).toBe('"2"');
    expect(await replaced.json()).toEqual(entry({ key: 'foo', value: 'bar2', version: 2, revision: 2 }));
  });

  it("keys '.' and '..', spelled plainly or percent-encoded, are 400 invalid_key", async () => {
    const t = testApp();
    const base = await listen(t.app);
    for (const [path, key] of [
      ['/v1/.', '.'],
      ['/v1/..', '..'],
      ['/v1/%2e', '.'],
      ['/v1/%2E%2e', '..'],
    ] as const) {
      const res = await send(base, 'GET', path);
      expect({ status: res.status, body: JSON.parse(res.body) }).toEqual({
        status: 400,
        body: { error: { code: 'invalid_key', message: `key must not be '${key}'` } },
      });
    }
  });

  it('dot segments inside a key are part of the key, never resolved', async () => {
    const t = testApp();
    const base = await listen(t.app);
    expect((await send(base, 'POST', '/v1/', '{"key":"a/../b","value":1}')).status).toBe(201);
    const read = await send(base, 'GET', '/v1/a/../b');
    expect({ status: read.status, body: JSON.parse(read.body) }).toEqual({
      status: 200,
      body: entry({ key: 'a/../b', value: 1, version: 1, revision: 1 }),
    });
    const other = await send(base, 'GET', '/v1/b');
    expect({ status: other.status, body: JSON.parse(other.body) }).toEqual({
      status: 404,
      body: { error: { code: 'key_not_found', message: "key 'b' not found" } },
    });
  });

  it('HEAD answers the headers of GET and no body', async () => {
    const t = testApp();
    const base = await listen(t.app);
    await send(base, 'POST', '/v1/', '{"key":"foo","value":"bar"}');
    const get = await send(base, 'GET', '/v1/foo');
    const head = await send(base, 'HEAD', '/v1/foo');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(get.body)));
    expect(head.headers.etag).toBe('"1"');
    expect(get.body).toBe(
      `{"key":"foo","value":"bar","version":1,"revision":1,"createdAt":"${iso()}","updatedAt":"${iso()}","expiresAt":null}`,
    );
  });

  it('a body declared past the limit gets 413 payload_too_large at once, and the connection is closed unread', async () => {
    const t = testApp({ KV_MAX_VALUE_BYTES: '1024', KV_MAX_KEY_BYTES: '16' });
    const base = await listen(t.app);
    const limit = minBodyBytes(16, 1024);
    const port = Number(new URL(base).port);
    // Declare 100 MiB but send only 1 KiB of it: the answer must come without the rest.
    const { text, serverEnded } = await new Promise<{ text: string; serverEnded: boolean }>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let received = '';
      let ended = false;
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        received += chunk;
      });
      socket.on('end', () => {
        ended = true;
      });
      socket.on('error', reject);
      socket.on('close', () => resolve({ text: received, serverEnded: ended }));
      socket.write(
        'POST /v1/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
          `Content-Length: ${100 * 1_048_576}\r\n\r\n{"key":"k","value":"${'x'.repeat(1024)}`,
      );
    });
    const [head = '', body] = text.split('\r\n\r\n');
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 413 Payload Too Large');
    expect(head.toLowerCase()).toContain('\r\nconnection: close');
    expect(JSON.parse(body ?? '')).toEqual({
      error: { code: 'payload_too_large', message: `request body is larger than the limit of ${limit} bytes (KV_MAX_BODY_BYTES)` },
    });
    expect(serverEnded).toBe(true);
  });

  it('a chunked body that grows past the limit gets 413 payload_too_large', async () => {
    const t = testApp({ KV_MAX_VALUE_BYTES: '1024', KV_MAX_KEY_BYTES: '16' });
    const base = await listen(t.app);
    const limit = minBodyBytes(16, 1024);
    const answer = await new Promise<Answer>((resolve, reject) => {
      const req = request(`${base}/v1/`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text });
          req.destroy();
        });
      });
      // The server may close while chunks are still being written; only the answer matters.
      req.on('error', (err) => reject(err));
      req.write('{"key":"k","value":"');
      // Never ended: the server must answer from what it has seen, not wait for the rest.
      for (let sent = 0; sent <= limit; sent += 256) req.write('x'.repeat(256));
    });
    expect(answer.headers['transfer-encoding']).toBeUndefined();
    expect({ status: answer.status, connection: answer.headers.connection, body: JSON.parse(answer.body) }).toEqual({
      status: 413,
      connection: 'close',
      body: {
        error: { code: 'payload_too_large', message: `request body is larger than the limit of ${limit} bytes (KV_MAX_BODY_BYTES)` },
      },
    });
  });

  it("pages a client has not read yet keep their bytes while other clients' pages are written: each arrives whole", async () => {
    const t = testApp();
    const keys = Array.from({ length: 300 }, (_, i) => `k${String(i).padStart(3, '0')}`);
    const valueAt = (i: number): string => `${'v'.repeat(200)}${i}`;
    for (const [i, key] of keys.entries()) expect((await t.post({ key, value: valueAt(i) })).statusCode).toBe(201);
    const base = await listen(t.app);
    const port = Number(new URL(base).port);
    const pagePath = (n: number): string => `/v1/?start=${keys[n % 280]}&limit=20&values=true`;
    /** A page's body as the store holds it: 20 keys from the start, each with its value. */
    const check = (n: number, status: number, body: string): void => {
      expect(status).toBe(200);
      const page = JSON.parse(body) as { items: Array<{ key: string; value: string }>; more: boolean };
      const from = n % 280;
      expect(page.items.map((item) => [item.key, item.value])).toEqual(
        keys.slice(from, from + 20).map((key, i) => [key, valueAt(from + i)]),
      );
      expect(page.more).toBe(true);
    };

    // A client that sends 3,000 page requests at once and reads none of the answers for now:
    // about 22 MB, more than the kernel takes for an unread socket, so the server's writes wait.
    const slow = connect(port, '127.0.0.1');
    slow.pause();
    await new Promise<void>((resolve, reject) => {
      slow.once('connect', resolve);
      slow.once('error', reject);
    });
    const sent = 3000;
    slow.write(Array.from({ length: sent }, (_, n) => `GET ${pagePath(n)} HTTP/1.1\r\nHost: t\r\n\r\n`).join(''));
    // Meanwhile another client reads page after page, written in the same memory as the slow client's pages.
    for (let n = 0; n < 300; n++) {
      const answer = await send(base, 'GET', pagePath(n * 7));
      check(n * 7, answer.status, answer.body);
    }
    // Now the slow client reads every answer it asked for, in order; having sent all it will, it
    // half-closes, and the server ends the connection once every answer is written.
    const received = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      slow.on('data', (chunk: Buffer) => chunks.push(chunk));
      slow.on('end', () => resolve(Buffer.concat(chunks)));
      slow.on('error', reject);
      slow.end();
      slow.resume();
    });
    slow.destroy();
    const parser = new ResponseParser();
    parser.methods.push(...Array.from({ length: sent }, () => 'GET'));
    const answers = parser.push(received);
    expect(parser.garbage).toBeUndefined();
    expect(answers.length).toBe(sent);
    expect(parser.finish()).toBeUndefined();
    for (const [n, answer] of answers.entries()) check(n, answer.status, answer.body.toString('utf8'));
  });
});
