import { connect, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { type KvProcess, mib, startKvStore, stopAllKvStores } from './support/kv-process.js';

/**
 * Slow and idle clients against a real kv_store process: a client dribbling its request head
 * (or body) is dropped once KV_HEADERS_TIMEOUT_MS (or KV_REQUEST_TIMEOUT_MS) has passed, and
 * thousands of idle connections do not keep a new client from being served. In each test the
 * timeout under test is the only one short enough to drop the client before HANG_GUARD_MS, so
 * a drop within that guard is the timeout's doing however slow the machine is.
 */

afterAll(stopAllKvStores);

const HEADERS_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 2000;
/** The other timeouts in each test: longer than any wait here. */
const LONG_TIMEOUT_MS = '120000';
/** Only ends a wait that would otherwise never end; a slow client dribbles for 1000 s. */
const HANG_GUARD_MS = 20_000;

interface Dribbler {
  readonly socket: Socket;
  /** Milliseconds from connect to close; undefined while still open. */
  closedAfterMs: number | undefined;
  received: string;
  bytesSent: number;
}

/**
 * Connects, sends `head` at once (when everyMs is 0) and then `drip` one byte a second; or, with
 * no head, `drip` one byte every `everyMs`, the first at once. Stops when the socket closes.
 */
function dribble(port: number, head: string, drip: string, everyMs: number): Promise<Dribbler> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const d: Dribbler = { socket, closedAfterMs: undefined, received: '', bytesSent: 0 };
    let started = 0;
    let timer: NodeJS.Timeout | undefined;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      d.received += chunk;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      d.closedAfterMs = Date.now() - started;
    });
    socket.once('connect', () => {
      started = Date.now();
      const text = head + drip.repeat(1000);
      let i = 0;
      if (head.length > 0 && everyMs === 0) {
        socket.write(head);
        i = head.length;
      }
      const step = (): void => {
        if (socket.destroyed || i >= text.length) return;
        socket.write(text[i++] as string);
        d.bytesSent++;
      };
      if (head.length === 0) step(); // the first byte at once: the headers clock starts now
      timer = setInterval(step, everyMs || 1000);
      resolve(d);
    });
    socket.once('error', reject);
  });
}

async function waitFor(cond: () => boolean, limitMs: number): Promise<boolean> {
  const until = Date.now() + limitMs;
  while (!cond() && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
  return cond();
}

describe('slow clients', () => {
  it(`a client sending one header byte a second is dropped ${HEADERS_TIMEOUT_MS} ms after connecting (KV_HEADERS_TIMEOUT_MS), while others are served`, async () => {
    const kv = await startKvStore({
      KV_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
      KV_REQUEST_TIMEOUT_MS: LONG_TIMEOUT_MS,
      KV_KEEP_ALIVE_TIMEOUT_MS: LONG_TIMEOUT_MS,
    });
    const slow = await Promise.all([
      dribble(kv.port, '', 'GET /v1/slow HTTP/1.1\r\nHost: x\r\nX-Slow: ', 1000),
      dribble(kv.port, '', 'GET /v1/slow HTTP/1.1\r\nHost: x\r\nX-Slow: ', 1000),
      dribble(kv.port, '', '', 3_600_000), // connects, never sends a byte
    ]);
    // Meanwhile a normal client is served.
    const res = await fetch(`${kv.baseUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });

    await waitFor(() => slow.every((d) => d.closedAfterMs !== undefined), HANG_GUARD_MS);
    for (const d of slow) d.socket.destroy();
    const report = slow.map(
      (d) => `${d.closedAfterMs ?? 'still open'} ms (${d.bytesSent} bytes sent, got ${JSON.stringify(d.received.slice(0, 30))})`,
    );
    console.log(`slow headers: dropped after ${report.join('; ')}`);
    for (const d of slow) {
      expect(d.closedAfterMs, `dropped: ${report.join('; ')}`).toBeDefined();
      // Not before the timeout (the client starts its clock after the server does: a little slack).
      expect(d.closedAfterMs as number).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 250);
      if (d.received !== '') expect(d.received).toMatch(/^HTTP\/1\.1 408 /);
    }
    expect(kv.child.exitCode).toBeNull();
    await kv.stop();
  }, 30_000);

  it(`a client sending its body one byte a second is dropped once KV_REQUEST_TIMEOUT_MS (${REQUEST_TIMEOUT_MS} ms) has passed`, async () => {
    const kv = await startKvStore({
      KV_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
      KV_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      KV_KEEP_ALIVE_TIMEOUT_MS: LONG_TIMEOUT_MS,
    });
    const head = 'POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n';
    const d = await dribble(kv.port, head, ' ', 0);
    await waitFor(() => d.closedAfterMs !== undefined, HANG_GUARD_MS);
    d.socket.destroy();
    console.log(`slow body: dropped after ${d.closedAfterMs ?? 'still open'} ms (${d.bytesSent} body bytes sent)`);
    expect(d.closedAfterMs, 'dropped').toBeDefined();
    expect(d.closedAfterMs as number).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 250);
    if (d.received !== '') expect(d.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(kv.child.exitCode).toBeNull();
    await kv.stop();
  }, 30_000);
});

describe('idle connections', () => {
  let kv: KvProcess;
  const sockets: Socket[] = [];

  afterAll(() => {
    for (const s of sockets) s.destroy();
  });

  it('2000 idle connections (plus 200 idle keep-alive ones) do not keep a new client from being served', async () => {
    kv = await startKvStore({ KV_KEEP_ALIVE_TIMEOUT_MS: '60000' });
    const rssBefore = kv.rssBytes();
    // Connect in batches, so the listen backlog never overflows.
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(
        Array.from(
          { length: 100 },
          () =>
            new Promise<void>((resolve, reject) => {
              const s = connect({ port: kv.port, host: '127.0.0.1' });
              s.on('error', () => undefined);
              s.once('connect', () => resolve());
              s.once('error', reject);
              sockets.push(s);
            }),
        ),
      );
    }
    // Keep-alive connections that made one request and then sit idle.
    await Promise.all(
      Array.from(
        { length: 200 },
        (_, i) =>
          new Promise<void>((resolve, reject) => {
            const s = connect({ port: kv.port, host: '127.0.0.1' });
            s.on('error', () => undefined);
            s.once('connect', () => s.write(`GET /v1/idle-${i} HTTP/1.1\r\nHost: x\r\n\r\n`));
            s.once('data', () => resolve());
            s.once('error', reject);
            sockets.push(s);
          }),
      ),
    );
    const t0 = Date.now();
    const health = await fetch(`${kv.baseUrl}/healthz`);
    const created = await fetch(`${kv.baseUrl}/v1/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"key":"new-client","value":1}',
    });
    const read = await fetch(`${kv.baseUrl}/v1/new-client`);
    const ms = Date.now() - t0;
    // Still open once the new client was served: it was not served by dropping them.
    const open = sockets.filter((s) => !s.destroyed).length;
    console.log(
      `idle connections: ${open} open; a new client's 3 requests took ${ms} ms; server RSS ${mib(rssBefore)} -> ${mib(kv.rssBytes())}`,
    );
    expect(open).toBe(2200);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ key: 'new-client', value: 1, version: 1 });
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ key: 'new-client', value: 1, version: 1 });
    expect(kv.child.exitCode).toBeNull();
    for (const s of sockets) s.destroy();
    await kv.stop();
  }, 60_000);
});
