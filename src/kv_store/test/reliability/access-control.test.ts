import { spawn } from 'node:child_process';
import { callApi as inject } from '../support/call-api.js';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { errorBodyProblem } from './support/contract.js';
import { MAIN_JS, startKvStore, stopAllKvStores } from './support/kv-process.js';

/**
 * Access control, every combination: KV_AUTH_TOKEN / KV_READ_TOKEN set or not, no / wrong /
 * read / write token, read and write methods. Missing or wrong is 401 with WWW-Authenticate:
 * Bearer, the read-only token on a write is 403, /healthz is always open. And no token ever
 * appears in a log line, at any log level.
 */

afterAll(stopAllKvStores);

const WRITE_TOKEN = 'write-Token-5f1c9e2a7b';
const READ_TOKEN = 'read-Token-0d3b8a6c4e';
const WRONG_TOKEN = 'wrong-Token-9a8b7c6d5e';

type TokenKind = 'none' | 'wrong' | 'read' | 'write';
type Config = { name: string; auth: boolean; read: boolean };

const CONFIGS: Config[] = [
  { name: 'no tokens configured', auth: false, read: false },
  { name: 'KV_AUTH_TOKEN only', auth: true, read: false },
  { name: 'KV_READ_TOKEN only', auth: false, read: true },
  { name: 'both tokens', auth: true, read: true },
];
const TOKENS: TokenKind[] = ['none', 'wrong', 'read', 'write'];
/** Method, whether it reads, and its status when allowed. */
const METHODS: Array<{ method: string; access: 'read' | 'write'; ok: number }> = [
  { method: 'GET', access: 'read', ok: 200 },
  { method: 'HEAD', access: 'read', ok: 200 },
  { method: 'PUT', access: 'write', ok: 200 },
  { method: 'DELETE', access: 'write', ok: 204 },
  { method: 'POST', access: 'write', ok: 201 },
  { method: 'PATCH', access: 'read', ok: 405 },
];

function tokenValue(kind: TokenKind): string | undefined {
  return kind === 'none' ? undefined : kind === 'wrong' ? WRONG_TOKEN : kind === 'read' ? READ_TOKEN : WRITE_TOKEN;
}

/** The status the contract asks for. */
function expected(config: Config, kind: TokenKind, access: 'read' | 'write', ok: number): number {
  if (!config.auth && !config.read) return ok;
  const isWrite = kind === 'write' && config.auth;
  const isRead = kind === 'read' && config.read;
  if (!isWrite && !isRead) return 401;
  if (access === 'write' && !isWrite) return 403;
  return ok;
}

describe('access control matrix (in-process)', () => {
  const cases = CONFIGS.flatMap((config) =>
    TOKENS.flatMap((kind) => METHODS.map((m) => ({ config, kind, ...m, want: expected(config, kind, m.access, m.ok) }))),
  );

  it.each(cases)('$config.name, $kind token, $method -> $want', async ({ config, kind, method, want }) => {
    const app = buildApp({
      config: loadConfig({
        KV_LOG_LEVEL: 'silent',
        ...(config.auth ? { KV_AUTH_TOKEN: WRITE_TOKEN } : {}),
        ...(config.read ? { KV_READ_TOKEN: READ_TOKEN } : {}),
      }),
    });
    app.store.create('k', '"v"');
    const token = tokenValue(kind);
    const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
    let payload: string | undefined;
    let url = '/v1/k';
    if (method === 'PUT') payload = '{"value":"w"}';
    if (method === 'POST') {
      payload = '{"key":"new","value":1}';
      url = '/v1/';
    }
    if (payload !== undefined) headers['content-type'] = 'application/json';
    const res = await inject(app.door, { method: method as 'GET', url, headers, ...(payload === undefined ? {} : { payload }) });
    expect(res.statusCode, res.payload).toBe(want);
    if (want === 401) {
      expect(res.headers['www-authenticate']).toMatch(/^Bearer\b/);
      if (method !== 'HEAD') expect(JSON.parse(res.payload).error.code).toBe('unauthorized');
    }
    if (want === 403 && method !== 'HEAD') expect(JSON.parse(res.payload).error.code).toBe('forbidden');
    if (want >= 400 && method !== 'HEAD') expect(errorBodyProblem(want, res.payload)).toBeUndefined();
    for (const t of [WRITE_TOKEN, READ_TOKEN, WRONG_TOKEN]) expect(res.payload).not.toContain(t);
    // A refused write changed nothing.
    if (want === 401 || want === 403) expect((await app.store.get('k'))?.value).toBe('"v"');
    // /healthz is open whatever the token.
    const health = await inject(app.door, { method: 'GET', url: '/healthz', headers });
    expect(health.statusCode).toBe(200);
    app.close();
  });

  it.each([
    ['Basic d3JpdGU6dG9rZW4=', 401],
    ['Bearer', 401],
    ['Bearer ', 401],
    [`Bearer ${WRITE_TOKEN} extra`, 401],
    [`Bearer ${WRITE_TOKEN.toUpperCase()}`, 401],
    [`Bearer ${WRITE_TOKEN.slice(0, -1)}`, 401],
    [`Bearer ${WRITE_TOKEN}x`, 401],
    [`Bearer ${READ_TOKEN},${WRITE_TOKEN}`, 401],
    [`${WRITE_TOKEN}`, 401],
    [`bearer ${WRITE_TOKEN}`, 201],
    [`Bearer   ${WRITE_TOKEN}`, 201],
    [`Bearer ${READ_TOKEN}`, 403],
  ] as const)('Authorization: %s on a write -> %i', async (authorization, want) => {
    const app = buildApp({ config: loadConfig({ KV_LOG_LEVEL: 'silent', KV_AUTH_TOKEN: WRITE_TOKEN, KV_READ_TOKEN: READ_TOKEN }) });
    const res = await inject(app.door, {
      method: 'POST',
      url: '/v1/',
      headers: { authorization, 'content-type': 'application/json' },
      payload: '{"key":"a","value":1}',
    });
    expect(res.statusCode, res.payload).toBe(want);
    if (want === 401) expect(res.headers['www-authenticate']).toMatch(/^Bearer\b/);
    app.close();
  });
});

describe('tokens never appear in a log line', () => {
  it.each(['trace', 'debug'])(
    'KV_LOG_LEVEL=%s: a real process serving right, wrong and read-only tokens logs none of them',
    async (level) => {
      const kv = await startKvStore({ KV_LOG_LEVEL: level, KV_AUTH_TOKEN: WRITE_TOKEN, KV_READ_TOKEN: READ_TOKEN });
      const call = async (method: string, path: string, token?: string, body?: string): Promise<number> => {
        const headers: Record<string, string> = {};
        if (token !== undefined) headers.authorization = `Bearer ${token}`;
        if (body !== undefined) headers['content-type'] = 'application/json';
        const res = await fetch(`${kv.baseUrl}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
        await res.arrayBuffer();
        return res.status;
      };
      const statuses = [
        await call('POST', '/v1/', WRITE_TOKEN, '{"key":"k","value":1}'),
        await call('GET', '/v1/k', READ_TOKEN),
        await call('GET', '/v1/k', WRONG_TOKEN),
        await call('GET', '/v1/k'),
        await call('PUT', '/v1/k', READ_TOKEN, '{"value":2}'),
        await call('PUT', '/v1/k', WRITE_TOKEN, '{"value":2'),
        await call('PATCH', '/v1/k', WRITE_TOKEN),
        await call('DELETE', '/v1/missing', WRITE_TOKEN),
        await call('POST', '/v1/', WRITE_TOKEN, `{"key":"${'k'.repeat(600)}","value":1}`),
        await call('GET', '/healthz', WRONG_TOKEN),
        await call('DELETE', '/v1/k', WRITE_TOKEN),
      ];
      expect(statuses).toEqual([201, 200, 401, 401, 403, 400, 405, 404, 400, 200, 204]);
      const exit = await kv.stop('SIGTERM');
      expect(exit.code).toBe(0);
      const lines = [...kv.stdout, ...kv.stderr];
      if (level === 'debug') expect(lines.filter((l) => l.includes('"msg":"request"')).length).toBeGreaterThanOrEqual(statuses.length);
      const leaks = lines.filter((l) => [WRITE_TOKEN, READ_TOKEN, WRONG_TOKEN].some((t) => l.includes(t)));
      console.log(`token leak check (${level}): ${lines.length} log lines, ${leaks.length} with a token`);
      expect(leaks).toEqual([]);
    },
    30_000,
  );

  it.each([
    ['the same token for both', { KV_AUTH_TOKEN: WRITE_TOKEN, KV_READ_TOKEN: WRITE_TOKEN }, WRITE_TOKEN],
    ['a token with a space', { KV_AUTH_TOKEN: 'secret token with spaces' }, 'secret token with spaces'],
    ['a too-short token', { KV_READ_TOKEN: 'Zq7#x' }, 'Zq7#x'],
    ['a token with a control character', { KV_AUTH_TOKEN: 'secret\u0001control-char' }, 'secret\u0001control-char'],
  ])('a refused configuration (%s) names the variable but not the token', async (_label, env, secret) => {
    const child = spawn(process.execPath, [MAIN_JS], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', KV_PORT: '0', KV_LOG_LEVEL: 'trace', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    expect(code).toBe(1);
    expect(out).toMatch(/KV_(AUTH|READ)_TOKEN/);
    expect(out).not.toContain(secret);
  });
});
