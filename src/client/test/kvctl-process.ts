import { type ChildProcess, type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * kvctl as a user runs it: the installed binary (node_modules/.bin/kvctl, the built client) in
 * a child process, with only the environment a test gives it.
 */

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'node_modules', '.bin', 'kvctl');
const CLIENT = join(ROOT, 'src', 'client');

/** How a kvctl run ended: its exit code (null when a signal killed it) and everything it wrote. */
export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function start(args: readonly string[], env: Record<string, string>): ChildProcessWithoutNullStreams {
  return spawn(BIN, [...args], { env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs `kvctl args` to its end with only the given environment (and a PATH that finds node); `input` goes to stdin. */
export function kvctl(args: readonly string[], env: Record<string, string> = {}, input = ''): Promise<Run> {
  const child = start(args, env);
  const run = finished(child);
  child.stdin.end(input);
  return run;
}

/** A child process's exit code and everything it wrote, once it has ended. */
export function finished(child: ChildProcess): Promise<Run> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A kvctl that runs until stopped (watch): its output so far, a wait for its lines, and a signal to stop it. */
export interface RunningKvctl {
  /** Resolves once stdout holds `count` whole lines (rejects after `deadlineMs`: a hang guard, not a timing). */
  lines(count: number, deadlineMs?: number): Promise<string[]>;
  /** Sends `signal` and resolves with how the process ended. */
  stop(signal: NodeJS.Signals): Promise<Run>;
  /** Resolves when it ends by itself. */
  readonly ended: Promise<Run>;
}

/** Starts `kvctl args` and leaves it running. */
export function startKvctl(args: readonly string[], env: Record<string, string>): RunningKvctl {
  const child = start(args, env);
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of waiters) w();
  };
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    notify();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const ended = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      notify();
      resolve({ code, stdout, stderr });
    });
  });
  const whole = () => stdout.split('\n').slice(0, -1);
  return {
    ended,
    lines: (count, deadlineMs = 15_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (whole().length < count && child.exitCode === null && child.signalCode === null) return;
          clearTimeout(timer);
          waiters.delete(check);
          if (whole().length >= count) resolve(whole());
          else reject(new Error(`kvctl ended with ${whole().length} of ${count} lines; stderr: ${stderr}`));
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          child.kill('SIGKILL');
          reject(new Error(`only ${whole().length} of ${count} lines came within ${deadlineMs} ms; stderr: ${stderr}`));
        }, deadlineMs);
        waiters.add(check);
        check();
      }),
    stop: (signal) => {
      child.kill(signal);
      return ended;
    },
  };
}

/**
 * dist/ must be built from the current source (make build, or npm run build). tsc -b rewrites
 * only the outputs of changed files, but its build info after every build that changed anything.
 */
export function assertFreshBuild(): void {
  const main = join(CLIENT, 'dist', 'kvctl', 'main.js');
  let built: number;
  try {
    statSync(main);
    built = statSync(join(CLIENT, 'dist', 'tsconfig.tsbuildinfo')).mtimeMs;
  } catch {
    throw new Error(`${main} is missing: build first (make build, or npm run build)`);
  }
  for (const file of readdirSync(join(CLIENT, 'src'), { recursive: true }) as string[]) {
    if (file.endsWith('.ts') && statSync(join(CLIENT, 'src', file)).mtimeMs > built + 1000) {
      throw new Error(`src/client/src/${file} is newer than dist/: rebuild first (make build, or npm run build)`);
    }
  }
}

/** A port on 127.0.0.1 with nothing listening (taken, then let go). */
export function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
