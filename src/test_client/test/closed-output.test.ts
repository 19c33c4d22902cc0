import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, type Service, startService } from './helpers/processes.js';

/**
 * Both services as real processes whose output is a pipe that is closed, or never read, when
 * SIGTERM comes: they exit 0 all the same. Guards the fix for `make start 2>&1 | tee log` then
 * Ctrl-C, after which both processes retried write(1) = EPIPE every 100 ms for ever and ignored
 * SIGTERM (pino's default destination flushed synchronously at exit, retrying every error).
 * The verdict is the exit itself: before the fix there was none, so the only bound is a guard.
 */

const KV_MAIN = 'src/kv_store/dist/kv_store.js';
const TEST_CLIENT_MAIN = 'src/test_client/dist/main.js';
/** Only ends a wait that would otherwise never end (the bug: no exit at all). */
const HANG_GUARD_MS = 30_000;

const started: Service[] = [];
afterEach(() => {
  for (const s of started.splice(0)) if (s.process.exitCode === null && s.process.signalCode === null) s.process.kill('SIGKILL');
});

beforeAll(() => ensureBuilt());

async function start(script: string, env: Record<string, string>): Promise<Service> {
  const service = await startService(script, env);
  started.push(service);
  return service;
}

/** SIGTERM, then the exit code and signal, or 'still running' once the guard has passed. */
async function terminate(service: Service): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'still running'> {
  const child = service.process;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<'still running'>((resolve) => {
    timer = setTimeout(() => resolve('still running'), HANG_GUARD_MS);
  });
  const outcome = await Promise.race([exited, guard]);
  clearTimeout(timer);
  return outcome;
}

/** Closes the reading ends of the process's stdout and stderr, as a `| tee` that was interrupted does. */
function closeOutput(service: Service): void {
  service.process.stdout?.destroy();
  service.process.stderr?.destroy();
}

describe('shutdown when the output pipe is gone', () => {
  // Nothing is logged between the close and SIGTERM (as with `make start | tee log` and Ctrl-C),
  // so the first write to learn of the closed pipe is a shutdown line.
  it(
    'kv_store, its stdout and stderr closed, answers requests and exits 0 on SIGTERM',
    async () => {
      const kv = await start(KV_MAIN, { KV_PORT: '0', KV_SHUTDOWN_TIMEOUT_MS: '2000' });
      closeOutput(kv);
      const base = `http://127.0.0.1:${kv.port}`;
      const res = await fetch(`${base}/v1/closed`);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: { code: 'key_not_found', message: "key 'closed' not found" } });
      expect(await terminate(kv)).toEqual({ code: 0, signal: null });
    },
    2 * HANG_GUARD_MS,
  );

  it(
    'test_client, its stdout and stderr closed, exits 0 on SIGTERM',
    async () => {
      const tc = await start(TEST_CLIENT_MAIN, { TEST_CLIENT_PORT: '0', KV_STORE_URL: 'http://127.0.0.1:9' });
      closeOutput(tc);
      expect(await terminate(tc)).toEqual({ code: 0, signal: null });
    },
    2 * HANG_GUARD_MS,
  );

  it(
    'test_client runs a test into a closed pipe (every kv_store call is logged) and exits 0 on SIGTERM',
    async () => {
      const kv = await start(KV_MAIN, { KV_PORT: '0' });
      const tc = await start(TEST_CLIENT_MAIN, {
        TEST_CLIENT_PORT: '0',
        KV_STORE_URL: `http://127.0.0.1:${kv.port}`,
        TEST_CLIENT_KV_TIMEOUT_MS: '30000',
      });
      closeOutput(tc);
      const res = await fetch(`http://127.0.0.1:${tc.port}/test_overwrite`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ test: 'test_overwrite', status: 'passed' });
      expect(await terminate(tc)).toEqual({ code: 0, signal: null });
      expect(await terminate(kv)).toEqual({ code: 0, signal: null });
    },
    2 * HANG_GUARD_MS,
  );

  it(
    'kv_store whose stdout is never read keeps answering and exits 0 on SIGTERM',
    async () => {
      const kv = await start(KV_MAIN, { KV_PORT: '0', KV_LOG_LEVEL: 'debug', KV_SHUTDOWN_TIMEOUT_MS: '2000' });
      // The pipe stays open but nobody reads it: once it is full, every log write would block.
      kv.process.stdout?.pause();
      const base = `http://127.0.0.1:${kv.port}`;
      // About 150 bytes of log a request: 3,000 requests are several times what the pipe holds.
      let answered = 0;
      await Promise.all(
        Array.from({ length: 10 }, async (_, lane) => {
          for (let i = 0; i < 300; i++) {
            const res = await fetch(`${base}/v1/stalled-${lane}-${i}`);
            await res.arrayBuffer();
            if (res.status === 404) answered++;
          }
        }),
      );
      expect(answered).toBe(3000);
      const health = await fetch(`${base}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      expect(await terminate(kv)).toEqual({ code: 0, signal: null });
    },
    3 * HANG_GUARD_MS,
  );
});
