import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The kv_store package folder (src/kv_store). */
export const KV_STORE_DIR = fileURLToPath(new URL('../../../', import.meta.url));
/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../../', import.meta.url));
/** What the real process runs: the one-file bundle of dist/main.js, as every launcher does (rolldown.config.mjs). */
export const MAIN_JS = join(KV_STORE_DIR, 'dist', 'kv_store.js');
/** The node flags every launcher of kv_store passes (its package.json start script, checked by launchers.test.ts). */
export const KV_NODE_FLAGS = ['--max-semi-space-size=2', '--initial-old-space-size=64'] as const;
/**
 * The node flags of a kv_store node on etcd (KV_BACKEND=etcd): a 16 MiB young generation, whose
 * requests live across etcd's round trip (docs/etcd-backend.md, "The node's young generation").
 */
export const KV_ETCD_NODE_FLAGS = ['--max-semi-space-size=16', '--initial-old-space-size=64'] as const;

/** A real kv_store process (`node dist/kv_store.js`) listening on a free port of 127.0.0.1. */
export interface KvProcess {
  readonly pid: number;
  readonly port: number;
  readonly baseUrl: string;
  readonly child: ChildProcess;
  /** Everything written to stdout so far, as lines (the JSON log). */
  readonly stdout: string[];
  /** Everything written to stderr so far, as lines. */
  readonly stderr: string[];
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resident set size in bytes, from /proc/<pid>/status; undefined once it has exited. */
  rssBytes(): number | undefined;
  /** Sends `signal` and waits (bounded) for the exit; SIGKILL if it does not come. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<KvProcess>();

/** What `tsc -b` writes last in each package's dist/, after any build that found changes. */
const BUILD_INFO = join(KV_STORE_DIR, 'dist', 'tsconfig.tsbuildinfo');

/**
 * True when the bundle the real process runs is missing, or older than tsc's last build of
 * kv_store (or that build is missing): what a test that starts kv_store builds again first.
 */
export function bundleIsStale(): boolean {
  try {
    return statSync(MAIN_JS).mtimeMs + 1000 < statSync(BUILD_INFO).mtimeMs;
  } catch {
    return true;
  }
}

/**
 * Fails with a clear message when dist/ is missing or older than the sources it is built from
 * (kv_store's and @kv/shared's), or the bundle older than tsc's last build: build first.
 */
export async function assertFreshBuild(): Promise<void> {
  if (!existsSync(MAIN_JS) || !existsSync(BUILD_INFO)) {
    throw new Error(`${MAIN_JS} is missing: build kv_store first (npm run build -w src/kv_store, or make test)`);
  }
  if (bundleIsStale()) {
    throw new Error(`${MAIN_JS} is older than tsc's last build: bundle it again (npm run bundle -w src/kv_store, or make test)`);
  }
  const built = statSync(BUILD_INFO).mtimeMs;
  for (const pkg of ['kv_store', 'shared']) {
    const srcDir = join(REPO_ROOT, 'src', pkg, 'src');
    for (const file of await readdir(srcDir, { recursive: true })) {
      if (!file.endsWith('.ts')) continue;
      if (statSync(join(srcDir, file)).mtimeMs > built + 1000) {
        throw new Error(
          `src/${pkg}/src/${file} is newer than src/kv_store/dist/: rebuild first (npm run build -w src/kv_store, or make test)`,
        );
      }
    }
  }
}

/**
 * Starts `node dist/kv_store.js` with KV_PORT=0 and the given environment; resolves once it listens
 * (the port comes from the info-level "kv_store listening" log line). Without a warm-up
 * (KV_WARM_UP_MS=0) unless `env` asks for one, so it is ready at once.
 */
export async function startKvStore(
  env: Readonly<Record<string, string>> = {},
  options: { readonly startTimeoutMs?: number; readonly nodeArgs?: readonly string[] } = {},
): Promise<KvProcess> {
  await assertFreshBuild();
  if (/^(warn|error|fatal|silent)$/.test(env.KV_LOG_LEVEL ?? '')) {
    throw new Error('startKvStore reads the port from the "kv_store listening" line: use KV_LOG_LEVEL info or lower');
  }
  const flags = env.KV_BACKEND === 'etcd' ? KV_ETCD_NODE_FLAGS : KV_NODE_FLAGS;
  const child = spawn(process.execPath, [...flags, ...(options.nodeArgs ?? []), MAIN_JS], {
    cwd: KV_STORE_DIR,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      KV_HOST: '127.0.0.1',
      KV_PORT: '0',
      KV_LOG_LEVEL: 'info',
      KV_WARM_UP_MS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  lines(child.stdout, stdout);
  lines(child.stderr, stderr);
  const pid = child.pid;
  if (pid === undefined) throw new Error('kv_store did not start');

  const port = await new Promise<number>((resolve, reject) => {
    const limit = options.startTimeoutMs ?? 20_000;
    const timer = setTimeout(() => {
      clearInterval(poll);
      child.kill('SIGKILL');
      reject(new Error(`kv_store did not listen within ${limit} ms; stderr: ${stderr.join('\n')}`));
    }, limit);
    const poll = setInterval(() => {
      for (const line of stdout) {
        if (!line.includes('kv_store listening')) continue;
        const parsed = JSON.parse(line) as { address?: { port?: number } };
        if (typeof parsed.address?.port === 'number') {
          clearTimeout(timer);
          clearInterval(poll);
          resolve(parsed.address.port);
          return;
        }
      }
    }, 10);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      clearInterval(poll);
      reject(new Error(`kv_store exited (code ${code}, signal ${signal}) before listening; stderr: ${stderr.join('\n')}`));
    });
  });

  let alive = true;
  void exited.then(() => {
    alive = false;
  });
  const proc: KvProcess = {
    pid,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    child,
    stdout,
    stderr,
    exited,
    rssBytes: () => (alive ? rssOf(pid) : undefined),
    stop: async (signal = 'SIGTERM', timeoutMs = 20_000) => {
      if (alive) child.kill(signal);
      const timer = setTimeout(() => {
        if (alive) child.kill('SIGKILL');
      }, timeoutMs);
      const result = await exited;
      clearTimeout(timer);
      running.delete(proc);
      return result;
    },
  };
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return proc;
}

/** Stops every kv_store process this test file started and has not stopped (for afterAll). */
export async function stopAllKvStores(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop('SIGKILL', 5000)));
}

/** VmRSS of a process in bytes, or undefined if it is gone. */
export function rssOf(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

function lines(stream: NodeJS.ReadableStream | null, into: string[]): void {
  if (stream === null) return;
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    into.push(...parts);
  });
  stream.on('end', () => {
    if (rest !== '') into.push(rest);
  });
}

/** Megabytes, for messages. */
export function mib(bytes: number | undefined): string {
  return bytes === undefined ? 'n/a' : `${(bytes / 1_048_576).toFixed(1)} MiB`;
}
