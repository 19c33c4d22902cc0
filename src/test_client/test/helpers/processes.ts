import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleIsStale } from '../../../kv_store/test/reliability/support/kv-process.js';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

const TSC = `${ROOT}node_modules/typescript/bin/tsc`;

/**
 * Builds every package with tsc -b if a service's dist is missing, and kv_store's bundle if it is
 * missing or older than tsc's last build (`make test` builds them first).
 */
export function ensureBuilt(): void {
  if (!existsSync(`${ROOT}src/test_client/dist/main.js`) || !existsSync(`${ROOT}src/kv_store/dist/main.js`)) {
    execFileSync(process.execPath, [TSC, '-b', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  }
  if (bundleIsStale()) execFileSync('npm', ['run', '-s', 'bundle', '-w', 'src/kv_store'], { cwd: ROOT, stdio: 'inherit' });
}

/** A service running as its own Node process. */
export interface Service {
  readonly process: ChildProcess;
  /** The port it listens on, from its "listening" log line. */
  readonly port: number;
  /** Everything it wrote to stdout so far. */
  readonly stdout: () => string;
  /** Everything it wrote to stderr so far. */
  readonly stderr: () => string;
  /** Resolves with the exit code once it has exited and its output has all been read. */
  readonly exited: Promise<number | null>;
}

/** Starts `node <script>` with `env` and waits for its "listening" log line (or its exit). */
export function startService(script: string, env: Record<string, string>): Promise<Service> {
  const child = spawn(process.execPath, [script], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'pipe' });
  let out = '';
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8');
  });
  // 'close', not 'exit': only then has every line it wrote reached stdout() and stderr().
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const port = listeningPort(out);
      if (port !== undefined) resolve({ process: child, port, stdout: () => out, stderr: () => err, exited });
    });
    void exited.then((code) => reject(new Error(`${script} exited with ${code} before listening: ${err}${out}`)));
  });
}

/** Runs `node <script>` with `env` until it exits; for start-up failures. */
export function runToExit(script: string, env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawn(process.execPath, [script], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'pipe' });
  let err = '';
  let out = '';
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8');
  });
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stderr: err, stdout: out })));
}

function listeningPort(stdout: string): number | undefined {
  for (const line of stdout.split('\n')) {
    if (!line.includes('listening')) continue;
    try {
      const parsed = JSON.parse(line) as { address?: { port?: number } };
      if (typeof parsed.address?.port === 'number') return parsed.address.port;
    } catch {
      // A partial line; the rest comes with the next chunk.
    }
  }
  return undefined;
}
