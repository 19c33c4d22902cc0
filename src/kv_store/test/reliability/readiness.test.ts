import { afterAll, describe, expect, it } from 'vitest';
import { startKvStore, stopAllKvStores } from './support/kv-process.js';
import { RawConnection, rawRequest } from './support/raw-http.js';

/**
 * /readyz over real sockets against a real kv_store process (`node dist/kv_store.js`): ready while
 * it serves, 503 naming the `shutdown` check once SIGTERM has arrived. Shutdown closes the
 * listening socket at once, so the probe that sees the 503 is one already in flight: its head
 * is half sent before SIGTERM and finished after.
 */

afterAll(stopAllKvStores);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Only ends a wait that would otherwise never end. */
const HANG_GUARD_MS = 30_000;

describe('/readyz of a real kv_store process', () => {
  it('answers 503 naming the warm_up check while KV_WARM_UP_MS runs, then 200; the warm-up leaves the store, its metrics and its revision untouched', async () => {
    const kv = await startKvStore({ KV_WARM_UP_MS: '1500' });
    const first = await fetch(`${kv.baseUrl}/readyz`);
    expect(first.status).toBe(503);
    expect(await first.json()).toEqual({
      status: 'not_ready',
      checks: expect.arrayContaining([
        { name: 'warm_up', ok: false, reason: expect.stringMatching(/^warming up: /) as unknown as string },
      ]) as unknown as object[],
    });
    let status = first.status;
    for (const started = Date.now(); status !== 200 && Date.now() - started < HANG_GUARD_MS; await sleep(50)) {
      status = (await fetch(`${kv.baseUrl}/readyz`)).status;
    }
    expect(status).toBe(200);
    const done = kv.stdout
      .map((line) => JSON.parse(line) as { msg?: string; warmUp?: { requests: number } })
      .find((l) => l.msg === 'warm-up done');
    expect(done?.warmUp?.requests).toBeGreaterThan(0);
    const listing = await fetch(`${kv.baseUrl}/v1/`);
    expect({ status: listing.status, body: await listing.json() }).toEqual({
      status: 200,
      body: { revision: 0, items: [], prefixes: [], more: false, cursor: null },
    });
    const metrics = await (await fetch(`${kv.baseUrl}/metrics`)).text();
    expect(metrics).not.toMatch(/kv_http_requests_total\{[^}]*method="POST"/);
    expect(metrics).toMatch(/kv_http_requests_total\{[^}]*method="GET"[^}]*\} \d/);
  });

  it('answers 200 while serving, then 503 with the shutdown check and why once SIGTERM has arrived; /livez stays 200', async () => {
    const kv = await startKvStore();
    const probe = await RawConnection.open(kv.port);
    const ready = await probe.exchange([rawRequest('GET', '/readyz'), rawRequest('GET', '/livez')]);
    expect(ready.responses.map((r) => [r.status, JSON.parse(r.body.toString())])).toEqual([
      [200, { status: 'ready' }],
      [200, { status: 'ok' }],
    ]);

    // Probes in flight at SIGTERM: their heads are finished once shutdown has begun.
    const inFlight = await Promise.all([RawConnection.open(kv.port), RawConnection.open(kv.port)]);
    const [readyz, livez] = inFlight as [RawConnection, RawConnection];
    readyz.expect('GET');
    readyz.write('GET /readyz?verbose HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: probe-1\r\n');
    livez.expect('GET');
    livez.write('GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    // The server takes connections in the order they came: once a connection opened after these
    // two is answered, both are the server's (a connection not yet taken would be refused).
    const witness = await RawConnection.open(kv.port);
    expect((await witness.exchange([rawRequest('GET', '/livez')])).responses[0]?.status).toBe(200);
    witness.destroy();
    kv.child.kill('SIGTERM');
    const giveUp = Date.now() + HANG_GUARD_MS;
    while (!kv.stdout.some((l) => l.includes('shutting down')) && Date.now() < giveUp) await sleep(10);
    expect(kv.stdout.some((l) => l.includes('shutting down'))).toBe(true);
    readyz.write('\r\n');
    livez.write('\r\n');
    const [notReady, live] = await Promise.all([readyz.collect(1, HANG_GUARD_MS), livez.collect(1, HANG_GUARD_MS)]);

    const answer = notReady.responses[0];
    expect(answer?.status).toBe(503);
    expect(JSON.parse(answer?.body.toString() ?? '')).toEqual({
      status: 'not_ready',
      checks: [{ name: 'shutdown', ok: false, reason: 'shutting down: finishing the requests in flight, taking no new connections' }],
    });
    expect(answer?.headers).toMatchObject({
      connection: 'close',
      'x-request-id': 'probe-1',
      'content-type': 'application/json; charset=utf-8',
    });
    expect(live.responses[0]?.status).toBe(200);

    for (const c of [probe, readyz, livez]) c.destroy();
    expect(await kv.exited).toEqual({ code: 0, signal: null });
  }, 120_000);
});
