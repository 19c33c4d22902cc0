import { describe, expect, it } from 'vitest';
import { JSON_TYPE, testApp } from './helpers.js';

const TOKENS = { KV_AUTH_TOKEN: 'write-token-1', KV_READ_TOKEN: 'read-token-1' };

describe('/livez, /readyz and /healthz', () => {
  it('/livez answers 200 {"status":"ok"}, GET and HEAD', async () => {
    const t = testApp();
    const res = await t.get('/livez');
    expect({ status: res.statusCode, type: res.headers['content-type'], body: res.json() }).toEqual({
      status: 200,
      type: JSON_TYPE,
      body: { status: 'ok' },
    });
    const head = await t.head('/livez');
    expect({ status: head.statusCode, body: head.body }).toEqual({ status: 200, body: '' });
  });

  it('/readyz answers 200 {"status":"ready"}, and with ?verbose lists every check', async () => {
    const t = testApp();
    const res = await t.get('/readyz');
    expect({ status: res.statusCode, body: res.json() }).toEqual({ status: 200, body: { status: 'ready' } });
    for (const query of ['?verbose', '?verbose=1', '?x=2&verbose=']) {
      const verbose = await t.get(`/readyz${query}`);
      expect({ status: verbose.statusCode, body: verbose.json() }, query).toEqual({
        status: 200,
        body: { status: 'ready', checks: [{ name: 'shutdown', ok: true }] },
      });
    }
  });

  it('/readyz answers 503 once shutdown has begun, naming the check and why; /livez and /healthz stay 200', async () => {
    const t = testApp();
    t.app.drain();
    const res = await t.get('/readyz');
    const why = 'shutting down: finishing the requests in flight, taking no new connections';
    expect({ status: res.statusCode, type: res.headers['content-type'], body: res.json() }).toEqual({
      status: 503,
      type: JSON_TYPE,
      body: { status: 'not_ready', checks: [{ name: 'shutdown', ok: false, reason: why }] },
    });
    expect((await t.get('/livez')).statusCode).toBe(200);
    expect((await t.get('/healthz')).statusCode).toBe(200);
  });

  it("a feature's check makes /readyz 503 while it fails and 200 again once it passes; ?verbose shows the passing ones too", async () => {
    const t = testApp();
    let recovering: string | undefined = 'replaying the log: 1200 of 5000 batches';
    t.app.readiness.add('recovery', () => recovering);
    const failing = await t.get('/readyz');
    expect({ status: failing.statusCode, body: failing.json() }).toEqual({
      status: 503,
      body: { status: 'not_ready', checks: [{ name: 'recovery', ok: false, reason: recovering }] },
    });
    const verbose = await t.get('/readyz?verbose');
    expect(verbose.json()).toEqual({
      status: 'not_ready',
      checks: [
        { name: 'shutdown', ok: true },
        { name: 'recovery', ok: false, reason: recovering },
      ],
    });
    recovering = undefined;
    const back = await t.get('/readyz');
    expect({ status: back.statusCode, body: back.json() }).toEqual({ status: 200, body: { status: 'ready' } });
  });

  it('a check that throws is failing, with its message as the reason', async () => {
    const t = testApp();
    t.app.readiness.add('backend', () => {
      throw new Error('no leader');
    });
    const res = await t.get('/readyz');
    expect({ status: res.statusCode, body: res.json() }).toEqual({
      status: 503,
      body: { status: 'not_ready', checks: [{ name: 'backend', ok: false, reason: 'the check failed: no leader' }] },
    });
  });

  it('refuses a second check of the same name, and names that are not lower case', () => {
    const t = testApp();
    expect(() => t.app.readiness.add('shutdown', () => undefined)).toThrow("a readiness check named 'shutdown' already exists");
    expect(() => t.app.readiness.add('Backend', () => undefined)).toThrow('must be lower case letters, digits and _');
  });

  it('all three stay open when access control is on, with no token and with a wrong one', async () => {
    const t = testApp(TOKENS);
    for (const headers of [{}, { authorization: 'Bearer not-a-token' }] as Array<Record<string, string>>) {
      expect((await t.get('/livez', headers)).json()).toEqual({ status: 'ok' });
      expect((await t.get('/readyz', headers)).json()).toEqual({ status: 'ready' });
      expect((await t.get('/readyz?verbose', headers)).json()).toEqual({ status: 'ready', checks: [{ name: 'shutdown', ok: true }] });
      expect((await t.get('/healthz', headers)).json()).toEqual({ status: 'ok' });
    }
  });

  it('/healthz is unchanged: 200 {"status":"ok"}', async () => {
    const t = testApp();
    const res = await t.get('/healthz');
    expect({ status: res.statusCode, body: res.body }).toEqual({ status: 200, body: '{"status":"ok"}' });
  });
});
