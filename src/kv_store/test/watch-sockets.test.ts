import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { listen, testApp } from './helpers.js';
import { startKvStore, stopAllKvStores } from './reliability/support/kv-process.js';
import { SseClient } from './support/sse-client.js';

/*
 * Watches over real sockets: curl -N on an SSE watch of a real kv_store process, a browser's
 * reconnection (Last-Event-ID) after the network drops, a watcher that stops reading while
 * writers go on, and shutdown. Waits are hang guards; nothing here measures time.
 */

afterAll(stopAllKvStores);

/** Resolves when `check` holds (a hang guard of `ms`). */
async function until(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const json = { 'content-type': 'application/json' };

describe('SSE watch over real sockets', () => {
  it('curl -N on an SSE watch sees a PUT made by another client', async () => {
    const kv = await startKvStore();
    await fetch(`${kv.baseUrl}/v1/`, { method: 'POST', headers: json, body: '{"key":"app/color","value":"red"}' });
    const curl = spawn('curl', ['-sN', '-H', 'Accept: text/event-stream', `${kv.baseUrl}/v1/?watch=true&prefix=app%2F`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onTestFinished(() => {
      curl.kill('SIGTERM');
    });
    let out = '';
    curl.stdout.on('data', (data: Buffer) => {
      out += data.toString();
    });
    await until(() => out.includes('event: progress'), 'curl to be watching');
    const res = await fetch(`${kv.baseUrl}/v1/app/color`, { method: 'PUT', headers: json, body: '{"value":"blue"}' });
    expect(res.status).toBe(200);
    await until(() => out.includes('event: change'), 'the change in curl');
    expect(out).toBe(
      'retry: 1000\n: keepalive\n\n: keepalive\nid: 1\nevent: progress\ndata: {"revision":1}\n\n' +
        'id: 2\nevent: change\ndata: {"revision":2,"changes":[{"type":"put","key":"app/color","value":"blue","version":2,"revision":2,"expiresAt":null}]}\n\n',
    );
  });

  it('a browser-style reconnect with Last-Event-ID after the network drops misses nothing and repeats nothing', async () => {
    const t = testApp();
    const base = await listen(t.app);
    const port = Number(new URL(base).port);
    const client = new SseClient(port, '/v1/?watch=true&prefix=k');
    onTestFinished(() => client.close());
    await client.until((e) => e.some((x) => x.event === 'progress'), 'the first progress event');
    const write = async (method: string, path: string, body?: string) => {
      const res = await fetch(`${base}${path}`, { method, headers: json, body });
      expect(res.status).toBeLessThan(300);
    };
    await write('POST', '/v1/', '{"key":"k1","value":1}');
    await client.until((e) => e.some((x) => x.id === '1' && x.event === 'change'), 'revision 1');
    client.drop();
    // While it is away:
    await write('POST', '/v1/', '{"key":"k2","value":2}');
    await write('PUT', '/v1/k1', '{"value":11}');
    await write('POST', '/v1/', '{"key":"other","value":0}');
    await write('DELETE', '/v1/k2');
    await client.until((e) => e.some((x) => x.id === '5' && x.event === 'change'), 'revision 5 after the reconnect');
    const changes = client.events.filter((e) => e.event === 'change');
    expect(changes.map((e) => e.id)).toEqual(['1', '2', '3', '5']);
    expect(changes.map((e) => JSON.parse(e.data).changes.map((c: { type: string; key: string }) => `${c.type} ${c.key}`))).toEqual([
      ['put k1'],
      ['put k2'],
      ['put k1'],
      ['delete k2'],
    ]);
    expect(client.requests).toHaveLength(2);
    expect(client.requests[1]).toContain('\r\nLast-Event-ID: 1\r\n');
    expect(client.statuses).toEqual([200, 200]);
  });

  it('a watcher that stops reading is cut off (slow_consumer) while every write succeeds, and resumes without a gap', async () => {
    const t = testApp({ KV_WATCH_BUFFER_BYTES: '65536', KV_KEEP_ALIVE_TIMEOUT_MS: '120000' });
    const base = await listen(t.app);
    const port = Number(new URL(base).port);
    const socket = connect(port, '127.0.0.1');
    onTestFinished(() => {
      socket.destroy();
    });
    let received = '';
    socket.on('data', (d: Buffer) => {
      received += d.toString('latin1');
    });
    socket.write('GET /v1/?watch=true HTTP/1.1\r\nHost: x\r\nAccept: application/x-ndjson\r\n\r\n');
    await until(() => received.includes('"type":"progress"'), 'the watch to start');
    socket.pause(); // the client stops reading
    const value = JSON.stringify('v'.repeat(64 * 1024));
    const statuses: number[] = [];
    for (let i = 0; i < 300; i++) {
      const res = await fetch(`${base}/v1/`, { method: 'POST', headers: json, body: `{"key":"k${i}","value":${value}}` });
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    expect(statuses.every((s) => s === 201)).toBe(true);
    expect(t.app.store.revision).toBe(300);
    await until(() => t.app.watches.watchers === 0, 'the watcher to be cut off');
    socket.resume();
    await until(() => received.endsWith('\r\n0\r\n\r\n'), 'the end of the stream');
    const lines = received
      .split('\r\n')
      .filter((l) => l.startsWith('{'))
      .join('')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l));
    const last = lines.at(-1) as { type: string; code: string; resumeAfter: number };
    expect(last).toMatchObject({ type: 'error', code: 'slow_consumer' });
    expect(last.resumeAfter).toBeLessThan(300);
    const seen = lines.filter((l) => l.type === 'change').map((l) => l.revision);
    expect(seen).toEqual(Array.from({ length: last.resumeAfter }, (_, i) => i + 1));
    // Resuming after resumeAfter brings the rest.
    const rest = await fetch(`${base}/v1/?watch=true&after=${last.resumeAfter}&wait=0&values=false`);
    const body = (await rest.json()) as { revision: number; changes: Array<{ revision: number }>; more: boolean };
    expect(body.changes.map((c) => c.revision)).toEqual(Array.from({ length: 300 - last.resumeAfter }, (_, i) => last.resumeAfter + 1 + i));
  });
});

describe('a watch whose client leaves', () => {
  it('is stopped when the client closes its side, even with nothing to write (its slot comes back)', async () => {
    const t = testApp({ KV_MAX_WATCHERS: '1' });
    const base = await listen(t.app);
    const socket = connect(Number(new URL(base).port), '127.0.0.1');
    onTestFinished(() => {
      socket.destroy();
    });
    let received = '';
    socket.on('data', (d: Buffer) => {
      received += d.toString();
    });
    socket.write('GET /v1/?watch=true HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    await until(() => received.includes('event: progress'), 'the stream to start');
    expect(t.app.watches.watchers).toBe(1);
    socket.end();
    await until(() => t.app.watches.watchers === 0, 'the watch to stop');
    const next = await fetch(`${base}/v1/?watch=true&wait=0`);
    expect(next.status).toBe(200);
  });
});

describe('shutdown with watches open', () => {
  // (That drain answers a waiting long-poll is checked through the door, in routes-watch.test.ts.)
  it('SIGTERM ends an SSE stream cleanly (its last chunk) and the process exits 0', async () => {
    const kv = await startKvStore();
    const socket = connect(kv.port, '127.0.0.1');
    onTestFinished(() => {
      socket.destroy();
    });
    let received = '';
    let closed = false;
    socket.on('data', (d: Buffer) => {
      received += d.toString();
    });
    socket.on('close', () => {
      closed = true;
    });
    socket.write('GET /v1/?watch=true HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    await until(() => received.includes('event: progress'), 'the stream to start');
    const exit = await kv.stop('SIGTERM', 15_000);
    expect(exit).toEqual({ code: 0, signal: null });
    await until(() => closed, 'the socket to close');
    expect(received.endsWith('\r\n0\r\n\r\n')).toBe(true);
  });
});
