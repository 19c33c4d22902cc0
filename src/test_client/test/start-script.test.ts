import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestReport } from '../src/run/report.js';
import { ensureBuilt, ROOT } from './helpers/processes.js';

/**
 * `make start` (scripts/start.sh) as a user runs it: test_client follows kv_store to wherever
 * KV_HOST and KV_PORT put it (unless KV_STORE_URL says otherwise), the log is JSON lines on a
 * pipe and pino-pretty's lines on a terminal, and Ctrl-C or SIGTERM stops both services.
 */

/** Only ends a wait that would otherwise never end. */
const HANG_GUARD_MS = 30_000;

const running: ChildProcess[] = [];
afterEach(() => {
  // The script runs in a process group of its own (detached): stop the whole group.
  for (const child of running.splice(0)) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

beforeAll(() => ensureBuilt());

/** Two ports of 127.0.0.1 that were free a moment ago. */
async function freePorts(): Promise<[number, number]> {
  const servers = [createServer(), createServer()];
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))));
  const ports = servers.map((s) => {
    const address = s.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return address.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return [ports[0] as number, ports[1] as number];
}

interface Run {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `command` with `args` in a process group of its own, collecting stdout and stderr together. */
function run(command: string, args: readonly string[], env: Record<string, string>): Run {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', ...env },
    detached: true,
  });
  running.push(child);
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => out, exited };
}

/** Resolves once `condition` holds, checking every 50 ms; fails after the hang guard. */
async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const giveUp = Date.now() + HANG_GUARD_MS;
  while (!(await condition())) {
    if (Date.now() > giveUp) throw new Error(`no ${what} within ${HANG_GUARD_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).status === 200;
  } catch {
    return false;
  }
}

/** The JSON log lines in `output` (the script's own banner line aside). */
function jsonLines(output: string): Array<Record<string, unknown>> {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('make start (scripts/start.sh)', () => {
  it(
    'with KV_PORT moved, test_client calls kv_store on that port: /test_all passes; the log is JSON lines; SIGTERM stops both',
    async () => {
      const [kvPort, tcPort] = await freePorts();
      const start = run('bash', ['scripts/start.sh'], { KV_PORT: String(kvPort), TEST_CLIENT_PORT: String(tcPort) });
      await until(
        async () => (await answers(`http://127.0.0.1:${kvPort}/healthz`)) && (await answers(`http://127.0.0.1:${tcPort}/healthz`)),
        'two services answering',
      );
      const res = await fetch(`http://127.0.0.1:${tcPort}/test_all`);
      const report = (await res.json()) as TestReport & { results?: TestReport[] };
      expect(res.status, JSON.stringify(report).slice(0, 500)).toBe(200);
      expect(report).toMatchObject({ status: 'passed' });
      expect(start.output()).toContain(`(calling http://127.0.0.1:${kvPort})`);
      const listening = jsonLines(start.output()).find((l) => l.msg === 'test_client listening');
      expect(listening).toMatchObject({ service: 'test_client', kvStoreUrl: `http://127.0.0.1:${kvPort}` });

      start.child.kill('SIGTERM');
      expect(await start.exited).toEqual({ code: 0, signal: null });
      const stopped = jsonLines(start.output()).filter((l) => l.msg === 'stopped');
      expect(stopped.map((l) => l.service).sort()).toEqual(['kv_store', 'test_client']);
      expect(await answers(`http://127.0.0.1:${kvPort}/healthz`)).toBe(false);
      expect(await answers(`http://127.0.0.1:${tcPort}/healthz`)).toBe(false);
    },
    3 * HANG_GUARD_MS,
  );

  it(
    'KV_HOST=0.0.0.0 is reached on 127.0.0.1, and a KV_STORE_URL that is set wins',
    async () => {
      const [kvPort, tcPort] = await freePorts();
      const everywhere = run('bash', ['scripts/start.sh'], {
        KV_HOST: '0.0.0.0',
        KV_PORT: String(kvPort),
        TEST_CLIENT_PORT: String(tcPort),
      });
      await until(() => everywhere.output().includes('"test_client listening"'), 'test_client listening');
      const listening = jsonLines(everywhere.output()).find((l) => l.msg === 'test_client listening');
      expect(listening).toMatchObject({ kvStoreUrl: `http://127.0.0.1:${kvPort}` });
      everywhere.child.kill('SIGTERM');
      expect(await everywhere.exited).toEqual({ code: 0, signal: null });

      const [kvPort2, tcPort2] = await freePorts();
      const elsewhere = run('bash', ['scripts/start.sh'], {
        KV_PORT: String(kvPort2),
        TEST_CLIENT_PORT: String(tcPort2),
        KV_STORE_URL: 'http://kv.example:9000',
      });
      await until(() => elsewhere.output().includes('"test_client listening"'), 'test_client listening');
      expect(jsonLines(elsewhere.output()).find((l) => l.msg === 'test_client listening')).toMatchObject({
        kvStoreUrl: 'http://kv.example:9000',
      });
      elsewhere.child.kill('SIGTERM');
      expect(await elsewhere.exited).toEqual({ code: 0, signal: null });
    },
    3 * HANG_GUARD_MS,
  );

  it(
    'on a terminal the log is pino-pretty lines, and Ctrl-C stops both services, their last lines shown',
    async () => {
      const [kvPort, tcPort] = await freePorts();
      // script(1) runs the command on a pseudo-terminal; a Ctrl-C typed into it is a SIGINT to the command.
      const terminal = run('script', ['-qfec', 'exec bash scripts/start.sh', '/dev/null'], {
        KV_PORT: String(kvPort),
        TEST_CLIENT_PORT: String(tcPort),
        TERM: 'dumb',
      });
      await until(() => /INFO.*\(kv_store\): kv_store listening/.test(terminal.output()), 'kv_store listening, pretty');
      await until(() => /INFO.*\(test_client\): test_client listening/.test(terminal.output()), 'test_client listening, pretty');
      terminal.child.stdin?.write('\x03');
      expect(await terminal.exited).toEqual({ code: 0, signal: null });
      const text = terminal.output();
      expect(text).toMatch(/INFO.*\(kv_store\): stopped/);
      expect(text).toMatch(/INFO.*\(test_client\): stopped/);
      expect(text).not.toContain('{"level"');
    },
    3 * HANG_GUARD_MS,
  );
});
