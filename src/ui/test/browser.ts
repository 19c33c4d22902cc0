/**
 * The web UI's test harness: a real kv_store process serving the built UI, and Debian's chromium
 * driven by puppeteer-core (which downloads no browser). One browser per test file, a fresh
 * profile each time, loopback only.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { bundleIsStale } from '../../kv_store/test/reliability/support/kv-process.js';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const UI_DIST = join(ROOT, 'src/ui/dist');
const KV_STORE_MAIN = join(ROOT, 'src/kv_store/dist/kv_store.js');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags that work on this machine (no sandbox as root, no GPU, no network of its own). */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Builds kv_store (tsc, then its bundle) and the UI if their output is missing or the bundle is stale (`make test` builds them first). */
export function ensureBuilt(): void {
  if (bundleIsStale()) execFileSync('npm', ['run', '-s', 'build', '-w', 'src/kv_store'], { cwd: ROOT, stdio: 'inherit' });
  if (!existsSync(join(UI_DIST, 'index.html'))) execFileSync('npm', ['run', 'build', '-w', 'src/ui'], { cwd: ROOT, stdio: 'inherit' });
}

/** A kv_store process on a free loopback port. */
export interface KvStore {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly process: ChildProcess;
  /** What it wrote to stderr (shown when it fails). */
  readonly stderr: () => string;
  /** Sends SIGTERM and waits for it to exit. */
  readonly stop: () => Promise<void>;
}

/** Starts `node src/kv_store/dist/kv_store.js` serving the built UI (KV_UI_DIR) and waits until /healthz answers. */
export async function startKvStore(env: Record<string, string> = {}): Promise<KvStore> {
  ensureBuilt();
  const port = await freePort();
  const child = spawn(process.execPath, [KV_STORE_MAIN], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      KV_HOST: '127.0.0.1',
      KV_PORT: String(port),
      KV_LOG_LEVEL: 'warn',
      KV_UI_DIR: UI_DIST,
      KV_WARM_UP_MS: '0',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`kv_store exited with ${child.exitCode} before it answered /healthz: ${stderr}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`kv_store did not answer /healthz within 15 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url,
    process: child,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Throws, saying what is wrong, unless `store` serves the UI's index.html at /ui/ (a quick failure instead of a timeout per test). */
export async function assertUiServed(store: KvStore): Promise<void> {
  const response = await fetch(`${store.url}/ui/`);
  const type = response.headers.get('Content-Type') ?? '';
  const body = await response.text();
  if (response.status !== 200 || !type.startsWith('text/html') || !body.includes('<div class="toast"')) {
    throw new Error(`kv_store does not serve the UI at /ui/ (KV_UI_DIR=${UI_DIST}): ${response.status} ${type} ${body.slice(0, 200)}`);
  }
}

/** A port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts chromium with a fresh profile; close it with closeBrowser(). */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH`);
  }
  const userDataDir = await mkdtemp(join(tmpdir(), 'kv-ui-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir,
    args: CHROMIUM_FLAGS,
    protocolTimeout: 30_000,
  });
  // Chromium may still be writing its profile as it disconnects: retry the removal a little.
  browser.once(
    'disconnected',
    () => void rm(userDataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }).catch(() => undefined),
  );
  return browser;
}

/** A page and what went wrong in it. */
export interface WatchedPage {
  readonly page: Page;
  /** JavaScript errors: console.error calls, uncaught exceptions, and any resource that failed to load other than an API answer. */
  readonly errors: string[];
  /** API answers with an error status, as chromium logs them ("Failed to load resource: … 409"): expected ones, such as a 412 that opens the conflict view. */
  readonly apiErrors: { readonly status: number; readonly url: string }[];
}

/** Opens `url` in a new page of `width` x `height` CSS pixels, recording console errors. */
export async function openPage(browser: Browser, url: string, width = 1280, height = 800): Promise<WatchedPage> {
  const page = await browser.newPage();
  const errors: string[] = [];
  const apiErrors: { status: number; url: string }[] = [];
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const status = /^Failed to load resource: the server responded with a status of (\d+)/.exec(message.text());
    const source = message.location().url ?? '';
    if (status !== null && new URL(source, url).pathname.startsWith('/v1/')) apiErrors.push({ status: Number(status[1]), url: source });
    else errors.push(`console.error: ${message.text()} ${source}`.trim());
  });
  page.on('pageerror', (error) => errors.push(`uncaught: ${error instanceof Error ? error.message : String(error)}`));
  await page.setViewport({ width, height });
  await page.goto(url, { waitUntil: 'load' });
  return { page, errors, apiErrors };
}

/** The JSON editor's text in the key pane (or in `root`). */
export function editorText(page: Page, root = '#key-pane'): Promise<string> {
  return page.$eval(root, (el) => [...el.querySelectorAll('.cm-content .cm-line')].map((line) => line.textContent).join('\n'));
}

/** Replaces the text of the key pane's editor as a user would: select all, then type. */
export async function typeInEditor(page: Page, text: string): Promise<void> {
  await page.click('#key-pane .cm-content');
  await page.keyboard.down('Control');
  await page.keyboard.press('a');
  await page.keyboard.up('Control');
  await page.keyboard.press('Backspace');
  await page.keyboard.sendCharacter(text);
}

/** The key names of the folder pane's rows, in order. */
export function rowNames(page: Page): Promise<string[]> {
  return page.$$eval('#rows a.row', (links) => links.map((link) => link.getAttribute('data-name') ?? ''));
}

/** A request to the store from "another client" (plain fetch); the status, headers and parsed body. */
export async function api(
  store: KvStore,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: unknown }> {
  const response = await fetch(`${store.url}${path}`, {
    method,
    headers: body === undefined ? headers : { 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

/** Creates `key` with `value`; fails the test unless the store answers 201. */
export async function seed(store: KvStore, key: string, value: unknown, headers: Record<string, string> = {}): Promise<void> {
  const answer = await api(store, 'POST', '/v1/', { key, value }, headers);
  if (answer.status !== 201) throw new Error(`seeding ${key}: ${answer.status} ${JSON.stringify(answer.body)}`);
}
