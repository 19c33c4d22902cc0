import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { Persistence } from '../../src/store/durable/persistence.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { callApi } from '../support/call-api.js';
import { MemoryLog } from '../support/durable.js';
import { SimDisk } from '../support/sim-disk.js';
import { type KvProcess, startKvStore, stopAllKvStores } from './support/kv-process.js';

/**
 * A disk that fills: kv_store turns read-only (503 persistence_failed naming the full disk),
 * loses nothing it acknowledged, keeps answering reads, and takes writes again once space is
 * freed. On a real 8 MiB tmpfs mounted for the test (root), with a real process; and through
 * the API with ENOSPC injected in the file layer.
 */

const root = mkdtempSync(join(tmpdir(), 'kv-disk-full-'));
const mountPoint = join(root, 'tmpfs');
let mounted = false;
let mountProblem = '';

beforeAll(() => {
  mkdirSync(mountPoint);
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mountPoint], { encoding: 'utf8' });
  mounted = mount.status === 0;
  mountProblem = mounted ? '' : (mount.stderr || mount.error?.message || `mount exited ${mount.status}`).trim();
});

afterAll(async () => {
  await stopAllKvStores();
  if (mounted) spawnSync('umount', [mountPoint]);
  rmSync(root, { recursive: true, force: true });
});

const JSON_HEADERS = { 'content-type': 'application/json' };
const FULL =
  'the store is read-only: the disk holding the data directory is full (ENOSPC writing the log); writes resume when space is freed';

interface PostResult {
  readonly status: number;
  readonly body: { error?: { code: string; message: string }; revision?: number };
}

async function post(base: string, key: string, value: unknown): Promise<PostResult> {
  const res = await fetch(`${base}/v1/`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ key, value }) });
  return { status: res.status, body: (await res.json()) as PostResult['body'] };
}

/** Waits for a line of the process's log (read from its stdout pipe, so it may come after the answers); fails after 10 s. */
async function logged(kv: KvProcess, test: (line: string) => boolean): Promise<void> {
  for (const deadline = Date.now() + 10_000; !kv.stdout.some(test); ) {
    if (Date.now() > deadline) throw new Error(`no such log line; the log:\n${kv.stdout.join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a disk that fills', () => {
  it('real tmpfs, real process: read-only with 503 persistence_failed, nothing acknowledged lost, writes again once space is freed', async () => {
    if (!mounted) {
      // Without the right to mount (not root), the same story runs in-process below; say so.
      console.log(`tmpfs could not be mounted (${mountProblem}); the full disk is the injected one of the next test`);
      expect(mountProblem).not.toBe('');
      return;
    }
    const dataDir = join(mountPoint, 'data');
    const ballast = join(mountPoint, 'ballast');
    // Ballast the test can free later: 5 MiB of the 8.
    writeFileSync(ballast, Buffer.alloc(5 * 1_048_576, 1));
    let kv: KvProcess = await startKvStore({ KV_DATA_DIR: dataDir, KV_FSYNC: 'always' });
    const acknowledged = new Map<string, number>();
    const refused: string[] = [];
    const value = 'v'.repeat(60_000);
    // Writes one at a time until one meets the full disk: that one is held (kept, not answered)
    // until there is room, and /readyz says read-only while it waits.
    let held: { key: string; answer: Promise<PostResult> } | undefined;
    for (let i = 0; i < 200 && held === undefined; i++) {
      const key = `fill-${i}`;
      const answer = post(kv.baseUrl, key, `${i}:${value}`);
      let res: PostResult | undefined;
      while (res === undefined) {
        res = await Promise.race([answer, new Promise<undefined>((r) => setTimeout(() => r(undefined), 100))]);
        if (res === undefined && (await fetch(`${kv.baseUrl}/readyz`)).status === 503) break;
      }
      if (res === undefined) held = { key, answer };
      else {
        expect(res.status, key).toBe(201);
        acknowledged.set(key, res.body.revision as number);
      }
    }
    expect(held).toBeDefined();
    expect(acknowledged.size).toBeGreaterThan(10);
    // Read-only: later writes are refused with the reason, reads go on.
    const again = await post(kv.baseUrl, 'small', 1);
    expect(again).toEqual({ status: 503, body: { error: { code: 'persistence_failed', message: FULL } } });
    refused.push('small');
    const read = await fetch(`${kv.baseUrl}/v1/fill-0`);
    expect(read.status).toBe(200);
    expect(((await read.json()) as { value: string }).value).toBe(`0:${value}`);
    await logged(kv, (l) => l.includes('"level":50') && l.includes('the store is read-only: the disk holding'));
    // /readyz says so, without a path.
    const notReady = await fetch(`${kv.baseUrl}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({
      status: 'not_ready',
      checks: [{ name: 'persistence', ok: false, reason: FULL.replace('the store is ', '') }],
    });
    // Space returns: within the next checks (once a second) writes are taken again.
    rmSync(ballast);
    let resumed: { status: number } | undefined;
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
      resumed = await post(kv.baseUrl, 'after-space', 'back');
      if (resumed.status === 201) break;
      refused.push('after-space');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(resumed?.status).toBe(201);
    await logged(kv, (l) => l.includes('the disk has room again: the store takes writes'));
    // The held write was written once there was room, and then answered.
    const heldAnswer = await (held as { answer: Promise<PostResult> }).answer;
    expect(heldAnswer.status).toBe(201);
    acknowledged.set((held as { key: string }).key, heldAnswer.body.revision as number);
    const ready = await fetch(`${kv.baseUrl}/readyz?verbose`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: 'ready',
      checks: [
        { name: 'persistence', ok: true },
        { name: 'shutdown', ok: true },
      ],
    });
    // A kill and a restart on the same disk: everything acknowledged is there, nothing refused is.
    await kv.stop('SIGKILL');
    kv = await startKvStore({ KV_DATA_DIR: dataDir });
    for (const [key, revision] of acknowledged) {
      const res = await fetch(`${kv.baseUrl}/v1/${key}`);
      expect(res.status, key).toBe(200);
      expect(((await res.json()) as { revision: number }).revision).toBe(revision);
    }
    for (const key of refused.filter((k) => k !== 'after-space')) expect((await fetch(`${kv.baseUrl}/v1/${key}`)).status, key).toBe(404);
    expect((await fetch(`${kv.baseUrl}/v1/after-space`)).status).toBe(200);
    await kv.stop();
  }, 120_000);

  it('through the API (ENOSPC injected): 503 persistence_failed with the contract body, reads answered, writes again once there is room', async () => {
    const disk = new SimDisk();
    const persistence = new Persistence({
      dir: '/data',
      fsync: 'always',
      recovery: 'strict',
      snapshotEveryBytes: Number.MAX_SAFE_INTEGER,
      segmentBytes: 64 * 1_048_576,
      log: new MemoryLog(),
      createStore: (id) => new MemoryStore({ id }),
      files: disk,
      lock: false,
      // The disk is filled to just past the log's records: no zeros written ahead of them.
      zeroAhead: false,
    });
    const store = await persistence.open();
    const app = buildApp({ config: loadConfig({ KV_LOG_LEVEL: 'silent' }), store });
    const call = (method: string, url: string, body?: unknown) =>
      callApi(app.door, { method, url, headers: JSON_HEADERS, payload: body === undefined ? undefined : JSON.stringify(body) });
    expect((await call('POST', '/v1/', { key: 'a', value: 1 })).statusCode).toBe(201);
    disk.capacity = disk.bytes('/data/wal-0000000000000001.log').length + 40;
    // The write that meets the full disk is held: kept, not answered, until there is room.
    let heldAnswered = false;
    const held = call('POST', '/v1/', { key: 'b', value: 'x'.repeat(100) }).finally(() => (heldAnswered = true));
    for (const deadline = Date.now() + 20_000; persistence.ready().ok && Date.now() < deadline; )
      await new Promise((r) => setTimeout(r, 10));
    expect(persistence.ready()).toEqual({ ok: false, reason: FULL.replace('the store is ', '') });
    expect(heldAnswered).toBe(false);
    // Later writes are refused with the contract's body; reads are answered.
    const refused = await call('PUT', '/v1/a', { value: 2 });
    expect(refused.statusCode).toBe(503);
    expect(refused.json()).toEqual({
      error: {
        code: 'persistence_failed',
        message: FULL,
      },
    });
    expect((await call('GET', '/v1/a')).json()).toMatchObject({ key: 'a', value: 1, version: 1 });
    disk.capacity = Number.POSITIVE_INFINITY;
    const created = await held;
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ key: 'b', version: 1, revision: 2 });
    expect(persistence.ready().ok).toBe(true);
    expect((await call('PUT', '/v1/a', { value: 2 })).json()).toMatchObject({ key: 'a', value: 2, version: 2, revision: 3 });
    await app.close();
    await persistence.close();
  }, 60_000);
});
