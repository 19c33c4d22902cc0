import { afterEach, describe, expect, it } from 'vitest';
import { type FakeStore, type Faults, startBrokenStore, startFixedStore } from './helpers/fake-stores.js';
import { firstFailedStep, type RunningTestClient, runEndpoint, startTestClient } from './helpers/test-client.js';

const running: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
});

async function against(store: Promise<FakeStore>): Promise<{ store: FakeStore; client: RunningTestClient }> {
  const s = await store;
  running.push(s);
  const client = await startTestClient(s.url);
  running.push(client);
  return { store: s, client };
}

async function brokenRun(faults: Faults, path: string) {
  const { store, client } = await against(startBrokenStore(faults));
  const { status, report } = await runEndpoint(client.url, path);
  return { store, status, report };
}

describe('the fake store without faults', () => {
  it('passes every test, so each fault below is what breaks them', async () => {
    const { client } = await against(startBrokenStore());
    for (const test of ['/test_overwrite', '/test_delete', '/test_list', '/test_watch', '/test_txn']) {
      const { report } = await runEndpoint(client.url, test);
      expect(report.status, `${test}: ${report.error}`).toBe('passed');
    }
  });
});

describe('test_list against deliberately broken stores', () => {
  it('a store whose later pages show the current state fails at the second page, and still cleans up', async () => {
    const { store, status, report } = await brokenRun({ listIgnoresRevision: true }, '/test_list');
    expect(status).toBe(500);
    expect(firstFailedStep(report)).toBe('the second page is still at the first revision');
    const failed = report.steps.find((s) => !s.ok);
    expect(failed?.problems).toContain(
      `body.items.*.key: expected ${JSON.stringify([`${report.key}/c/1`, `${report.key}/c/2`])}, got ${JSON.stringify([`${report.key}/bb`, `${report.key}/c/1`])}`,
    );
    expect(store.keys()).toEqual([]);
  });

  it('a store whose cursor starts over fails at the second page', async () => {
    const { status, report } = await brokenRun({ listIgnoresCursor: true }, '/test_list');
    expect(status).toBe(500);
    expect(firstFailedStep(report)).toBe('the second page is still at the first revision');
  });
});

describe('test_watch against deliberately broken stores', () => {
  it('a store whose watches leave deletes out fails when the stream has only the PUT', async () => {
    const { store, status, report } = await brokenRun({ watchDropsDeletes: true }, '/test_watch');
    expect(status).toBe(500);
    expect(firstFailedStep(report)).toBe('the SSE stream delivered the PUT and the DELETE, in order, with id = revision');
    expect(report.steps.find((s) => !s.ok)?.problems?.[0]).toBe('expected 2 change events within 5000 ms, got 1');
    expect(store.keys()).toEqual([]);
  });

  it('a store that ignores Last-Event-ID fails at the reconnection', async () => {
    const { status, report } = await brokenRun({ watchIgnoresLastEventId: true }, '/test_watch');
    expect(status).toBe(500);
    expect(firstFailedStep(report)).toBe('the reconnected stream resumes at the DELETE, and nothing before it');
  });
});

describe('test_txn against a deliberately broken store', () => {
  it('a store whose transactions apply op by op and stop at the first failure fails when GET finds the set it should have undone', async () => {
    const { store, status, report } = await brokenRun({ txnNotAtomic: true }, '/test_txn');
    expect(status).toBe(500);
    expect(report.status).toBe('failed');
    // Its 409 looked right: it named ops[3] and the revision from before.
    expect(report.steps[1]).toMatchObject({
      name: 'a transaction whose last op fails is refused, naming that op',
      ok: true,
      actual: { status: 409 },
    });
    expect(firstFailedStep(report)).toBe("GET shows the failed transaction's set did not happen");
    const failed = report.steps.find((s) => !s.ok);
    expect(failed?.problems).toEqual(
      expect.arrayContaining(['status: expected 404, got 200', 'body.error.code: expected "key_not_found", got (missing)']),
    );
    expect(failed?.actual.body).toMatchObject({ key: `${report.key}/extra`, value: 'written by a failed transaction' });
    // The test stopped there, and its clean-up removed what the broken store left behind.
    expect(report.steps.filter((s) => s.cleanup === true).map((s) => s.request.path)).toEqual(
      ['', '/source', '/destination', '/counter', '/extra', '/missing'].map((n) => `/v1/${encodeURIComponent(`${report.key}${n}`)}`),
    );
    expect(store.keys()).toEqual([]);
  });

  it('the same store with atomic transactions passes (the fault, not the fake, is what fails it)', async () => {
    const { status, report } = await brokenRun({}, '/test_txn');
    expect({ status, outcome: report.status, error: report.error }).toEqual({ status: 200, outcome: 'passed', error: undefined });
  });
});

describe('test_overwrite against deliberately broken stores', () => {
  it('a store whose POST silently overwrites fails at the second POST (500 failed)', async () => {
    const { store, status, report } = await brokenRun({ postOverwrites: true }, '/test_overwrite');
    expect(status).toBe(500);
    expect(report.status).toBe('failed');
    expect(firstFailedStep(report)).toBe('a second POST of the key is refused');
    const failed = report.steps[1];
    expect(failed).toMatchObject({ ok: false, expected: { status: 409 }, actual: { status: 201 } });
    expect(failed?.problems).toEqual(
      expect.arrayContaining(['status: expected 409, got 201', 'body.error.code: expected "key_exists", got (missing)']),
    );
    expect(report.error).toBe(`step 'a second POST of the key is refused' did not hold: ${failed?.problems?.join('; ')}`);
    // (d) the test stopped at the failure and still cleaned up its key.
    expect(report.steps.map((s) => s.name)).toEqual([
      'create a fresh key',
      'a second POST of the key is refused',
      'clean up: delete the key',
    ]);
    expect(report.steps[2]).toMatchObject({ cleanup: true, ok: true, actual: { status: 204 } });
    expect(store.requests.at(-1)).toBe(`DELETE /v1/${encodeURIComponent(report.key)}`);
    expect(store.keys()).toEqual([]);
  });

  it('a store whose PUT answers 200 but stores nothing fails when GET reads the old value', async () => {
    const { store, status, report } = await brokenRun({ putForgets: true }, '/test_overwrite');
    expect(status).toBe(500);
    expect(report.status).toBe('failed');
    expect(firstFailedStep(report)).toBe('GET returns the new value');
    const failed = report.steps[3];
    expect(failed?.actual.status).toBe(200);
    expect(failed?.actual.body).toMatchObject({ value: { write: 1 }, version: 1 });
    expect(failed?.problems).toContain('body.version: expected 2, got 1');
    expect(store.keys()).toEqual([]);
  });

  it('a store that ignores If-Match fails at the stale PUT (200 instead of 412)', async () => {
    const { store, status, report } = await brokenRun({ ignoresIfMatch: true }, '/test_overwrite');
    expect(status).toBe(500);
    expect(report.status).toBe('failed');
    expect(firstFailedStep(report)).toBe('a PUT with the stale If-Match of the first write is refused');
    expect(report.steps[4]).toMatchObject({ ok: false, expected: { status: 412 }, actual: { status: 200 } });
    expect(report.steps[4]?.problems).toContain('status: expected 412, got 200');
    expect(report.steps.at(-1)).toMatchObject({ cleanup: true, ok: true });
    expect(store.keys()).toEqual([]);
  });

  it('a store that answers 200 {} to everything fails at the first step', async () => {
    const { store, client } = await against(startFixedStore(200, 'application/json', '{}'));
    const { status, report } = await runEndpoint(client.url, '/test_overwrite');
    expect(status).toBe(500);
    expect(report.status).toBe('failed');
    expect(firstFailedStep(report)).toBe('create a fresh key');
    expect(report.steps[0]?.actual).toEqual({ status: 200, body: {} });
    expect(report.steps[0]?.problems).toEqual(
      expect.arrayContaining([
        'status: expected 201, got 200',
        "body is not an entry: 'key' is not a string",
        `header location: expected "/v1/${encodeURIComponent(report.key)}", got (missing)`,
        'body.version: expected 1, got (missing)',
      ]),
    );
    // The clean-up DELETE was still sent (and its 200 {} is recorded as not ok, without changing the outcome).
    expect(store.requests).toEqual(['POST /v1/', `DELETE /v1/${encodeURIComponent(report.key)}`]);
    expect(report.steps[1]).toMatchObject({ cleanup: true, ok: false, actual: { status: 200 } });
  });
});

describe('test_delete against deliberately broken stores', () => {
  it('a store whose DELETE answers 204 but keeps the key fails when GET still finds it', async () => {
    const { store, status, report } = await brokenRun({ deleteKeeps: true }, '/test_delete');
    expect(status).toBe(500);
    expect(report.status).toBe('failed');
    expect(report.steps[1]).toMatchObject({ name: 'DELETE the key', ok: true, actual: { status: 204, body: null } });
    expect(firstFailedStep(report)).toBe('GET of the deleted key is 404');
    expect(report.steps[2]?.problems).toContain('status: expected 404, got 200');
    // (d) the clean-up DELETE was sent even though the test failed; this store just ignores it.
    expect(report.steps.at(-1)).toMatchObject({
      cleanup: true,
      request: { method: 'DELETE', path: `/v1/${encodeURIComponent(report.key)}` },
    });
    expect(store.requests.at(-1)).toBe(`DELETE /v1/${encodeURIComponent(report.key)}`);
  });

  it('a store that answers 200 {} to everything fails at the first step', async () => {
    const { client } = await against(startFixedStore(200, 'application/json', '{}'));
    const { status, report } = await runEndpoint(client.url, '/test_delete');
    expect(status).toBe(500);
    expect(report.status).toBe('failed');
    expect(firstFailedStep(report)).toBe('create a fresh key');
  });

  it('a store whose POST silently overwrites still passes test_delete (that fault is test_overwrite’s to catch)', async () => {
    const { status, report } = await brokenRun({ postOverwrites: true }, '/test_delete');
    expect(status).toBe(200);
    expect(report.status).toBe('passed');
  });
});

describe('GET /test_all against a broken store', () => {
  it('answers 500 failed naming the test that failed', async () => {
    const { client } = await against(startBrokenStore({ ignoresIfMatch: true }));
    const res = await fetch(`${client.url}/test_all`);
    expect(res.status).toBe(500);
    const body = (await res.json()) as { status: string; error: string; results: { test: string; status: string }[] };
    expect(body.status).toBe('failed');
    expect(body.results.map((r) => [r.test, r.status])).toEqual([
      ['test_overwrite', 'failed'],
      ['test_delete', 'passed'],
      ['test_list', 'passed'],
      ['test_watch', 'passed'],
      ['test_txn', 'passed'],
    ]);
    expect(body.error).toMatch(/^test_overwrite: step 'a PUT with the stale If-Match/);
  });
});
