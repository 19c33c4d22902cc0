import { spawn } from 'node:child_process';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KvClient } from '../src/index.js';
import { assertFreshBuild, closedPort, finished, kvctl, ROOT } from './kvctl-process.js';
import { type RealStore, startRealStore } from './real-store.js';

/**
 * kvctl as a user runs it: the installed binary (node_modules/.bin/kvctl, the built client) in a
 * child process against a real kv_store listening on 127.0.0.1, asserting stdout, stderr and the
 * exit code of each command and each failure. ls, watch and txn: kvctl-list-watch-txn.test.ts;
 * export and import: kvctl-export-import.test.ts.
 */

const COMMANDS = ['get', 'create', 'put', 'rm', 'ls', 'watch', 'txn', 'export', 'import', 'health'];

let store: RealStore | undefined;
async function serve(env: Record<string, string> = {}): Promise<{ url: string; env: Record<string, string>; real: RealStore }> {
  store = await startRealStore(env);
  return { url: store.url, env: { KV_URL: store.url }, real: store };
}

beforeAll(assertFreshBuild);
afterEach(async () => {
  await store?.close();
  store = undefined;
});

describe('kvctl: each command', () => {
  it('create, get, put --if-match, rm: readable output, exit 0, nothing on stderr', async () => {
    const { url, env } = await serve();
    const client = new KvClient({ baseUrl: url });

    expect(await kvctl(['create', 'users/42', '{"name":"Ada","langs":["en","fr"]}'], env)).toEqual({
      code: 0,
      stdout: 'created users/42 at revision 1\n',
      stderr: '',
    });
    const created = await client.get('users/42');
    expect(await kvctl(['get', 'users/42'], env)).toEqual({
      code: 0,
      stdout: [
        'key       users/42',
        'value     {"name":"Ada","langs":["en","fr"]}',
        'version   1',
        'revision  1',
        `created   ${created.createdAt}`,
        `updated   ${created.updatedAt}`,
        'expires   never',
        '',
      ].join('\n'),
      stderr: '',
    });
    expect(await kvctl(['put', 'users/42', '{"name":"Ada Lovelace"}', '--if-match', '1'], env)).toEqual({
      code: 0,
      stdout: 'updated users/42 to version 2 at revision 2\n',
      stderr: '',
    });
    expect(await client.get('users/42')).toMatchObject({ value: { name: 'Ada Lovelace' }, version: 2 });
    expect(await kvctl(['rm', 'users/42', '--if-match', '"2"'], env)).toEqual({ code: 0, stdout: 'deleted users/42\n', stderr: '' });
    await expect(client.get('users/42')).rejects.toMatchObject({ status: 404 });
  });

  it('-o json prints the entry as kv_store answers it, one JSON document per result', async () => {
    const { url, env } = await serve();
    const client = new KvClient({ baseUrl: url });
    const created = await kvctl(['-o', 'json', 'create', 'cfg', '[1,{"a":null}]', '--ttl', '60'], env);
    const { etag: _etag, ...entry } = await client.get('cfg');
    expect(created.code).toBe(0);
    expect(created.stderr).toBe('');
    expect(JSON.parse(created.stdout)).toEqual(entry);
    expect(entry.expiresAt).not.toBeNull();
    expect(await kvctl(['get', 'cfg', '-o', 'json'], env)).toEqual({ code: 0, stdout: `${JSON.stringify(entry)}\n`, stderr: '' });
    expect(await kvctl(['rm', 'cfg', '--output=json'], env)).toEqual({ code: 0, stdout: '{"key":"cfg","deleted":true}\n', stderr: '' });
  });

  it('prints a long value indented over several lines, and never as base64', async () => {
    const { env } = await serve();
    const value = { description: 'a value long enough to be shown over several lines', tags: ['a', 'b'] };
    await kvctl(['create', 'long', JSON.stringify(value)], env);
    const { stdout, code } = await kvctl(['get', 'long'], env);
    expect(code).toBe(0);
    expect(stdout).toContain(
      [
        'value     {',
        '            "description": "a value long enough to be shown over several lines",',
        '            "tags": [',
        '              "a",',
        '              "b"',
        '            ]',
        '          }',
      ].join('\n'),
    );
  });

  it("reads VALUE_JSON from standard input when it is '-', and takes a value that starts with '-' after --", async () => {
    const { url, env } = await serve();
    const client = new KvClient({ baseUrl: url });
    expect((await kvctl(['create', 'from-stdin', '-'], env, '{"piped": true}\n')).code).toBe(0);
    expect((await client.get('from-stdin')).value).toEqual({ piped: true });
    expect((await kvctl(['create', 'negative', '--', '-5'], env)).code).toBe(0);
    expect((await client.get('negative')).value).toBe(-5);
  });

  it('health: ready with each check, exit 0; not ready (shutting down) names the check, exit 5', async () => {
    const { url, env, real } = await serve();
    expect(await kvctl(['health'], env)).toEqual({ code: 0, stdout: `ready (${url})\n  shutdown  ok\n`, stderr: '' });
    expect(await kvctl(['health', '-o', 'json'], env)).toEqual({
      code: 0,
      stdout: `${JSON.stringify({ url, ready: true, checks: [{ name: 'shutdown', ok: true }] })}\n`,
      stderr: '',
    });
    real.app.readiness.add('recovery', () => 'replaying the log');
    expect(await kvctl(['health'], env)).toEqual({
      code: 5,
      stdout: `not ready (${url})\n  shutdown  ok\n  recovery  failing: replaying the log\n`,
      stderr: '',
    });
  });

  it('takes the URL and token from --url and --token as well as KV_URL and KV_TOKEN; options go anywhere', async () => {
    const { url } = await serve({ KV_AUTH_TOKEN: 'write-token-1' });
    expect(await kvctl(['--url', url, '--token', 'write-token-1', 'create', 'a', '1'], {})).toEqual({
      code: 0,
      stdout: 'created a at revision 1\n',
      stderr: '',
    });
    expect((await kvctl(['get', 'a'], { KV_URL: url, KV_TOKEN: 'write-token-1' })).code).toBe(0);
    expect((await kvctl(['get', '--url', url, 'a', '--token=write-token-1'], { KV_URL: 'http://127.0.0.1:1' })).code).toBe(0);
  });

  it('--help for kvctl and for every command, with an example, exit 0', async () => {
    const general = await kvctl(['--help']);
    expect(general.code).toBe(0);
    expect(general.stderr).toBe('');
    for (const name of COMMANDS) expect(general.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    expect(general.stdout).toContain(
      'Exit codes: 0 ok, 1 usage, 2 not found, 3 conflict (409, 412), 4 auth (401, 403), 5 unreachable, 6 limits (413, 507),\n' +
        '7 gone (410: a watch from a revision the store no longer holds, an expired listing cursor).\n',
    );
    for (const name of COMMANDS) {
      for (const line of [
        [name, '--help'],
        ['help', name],
        [name, '-h'],
      ]) {
        const help = await kvctl(line);
        expect({ code: help.code, stderr: help.stderr }, line.join(' ')).toEqual({ code: 0, stderr: '' });
        expect(help.stdout, line.join(' ')).toMatch(new RegExp(`^Usage: kvctl ${name}`));
        expect(help.stdout, line.join(' ')).toMatch(/\nExamples?:\n {2}kvctl /);
      }
    }
  });
});

describe('kvctl: each failure has its exit code and says why on stderr', () => {
  it('not found: 2', async () => {
    const { env } = await serve();
    expect(await kvctl(['get', 'nope'], env)).toEqual({ code: 2, stdout: '', stderr: "kvctl: key 'nope' not found (404 key_not_found)\n" });
    expect(await kvctl(['put', 'nope', '1'], env)).toEqual({
      code: 2,
      stdout: '',
      stderr: "kvctl: key 'nope' not found (404 key_not_found)\n",
    });
    expect(await kvctl(['rm', 'nope'], env)).toEqual({ code: 2, stdout: '', stderr: "kvctl: key 'nope' not found (404 key_not_found)\n" });
    expect(await kvctl(['get', 'nope', '-o', 'json'], env)).toEqual({
      code: 2,
      stdout: '',
      stderr: '{"error":{"status":404,"code":"key_not_found","message":"key \'nope\' not found"}}\n',
    });
  });

  it('conflict: 3, for a key that exists (409) and a stale --if-match (412)', async () => {
    const { env } = await serve();
    await kvctl(['create', 'k', '1'], env);
    expect(await kvctl(['create', 'k', '2'], env)).toEqual({
      code: 3,
      stdout: '',
      stderr: "kvctl: key 'k' already exists; use PUT /v1/k to overwrite it (409 key_exists)\n",
    });
    expect(await kvctl(['put', 'k', '2', '--if-match', '7'], env)).toEqual({
      code: 3,
      stdout: '',
      stderr: `kvctl: key 'k' is at revision 1 (ETag "1"), but If-Match asked for "7" (412 version_mismatch)\n`,
    });
    expect((await kvctl(['rm', 'k', '--if-match', '7'], env)).code).toBe(3);
  });

  it('auth: 4, without a token (401), with a wrong one (401) and with the read-only one on a write (403)', async () => {
    const { env } = await serve({ KV_AUTH_TOKEN: 'write-token-1', KV_READ_TOKEN: 'read-token-1' });
    expect(await kvctl(['get', 'k'], env)).toEqual({
      code: 4,
      stdout: '',
      stderr: 'kvctl: this store requires Authorization: Bearer <token> (401 unauthorized)\n',
    });
    expect(await kvctl(['get', 'k'], { ...env, KV_TOKEN: 'wrong-token' })).toEqual({
      code: 4,
      stdout: '',
      stderr: 'kvctl: the bearer token is not valid (401 unauthorized)\n',
    });
    expect(await kvctl(['create', 'k', '1'], { ...env, KV_TOKEN: 'read-token-1' })).toEqual({
      code: 4,
      stdout: '',
      stderr: 'kvctl: the bearer token is read-only; writes need the read-write token (KV_AUTH_TOKEN) (403 forbidden)\n',
    });
  });

  it('unreachable: 5, when nothing listens at the URL', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    expect(await kvctl(['get', 'k'], { KV_URL: url })).toEqual({
      code: 5,
      stdout: '',
      stderr: `kvctl: kv_store at ${url}/v1/k could not be reached (GET): connect ECONNREFUSED 127.0.0.1:${port}\n`,
    });
    expect((await kvctl(['health'], { KV_URL: url })).code).toBe(5);
  });

  it('limits: 6, for a value over the limit (413) and a full store (507)', async () => {
    const { env } = await serve({ KV_MAX_VALUE_BYTES: '16', KV_MAX_KEYS: '1' });
    expect(await kvctl(['create', 'big', JSON.stringify('x'.repeat(40))], env)).toEqual({
      code: 6,
      stdout: '',
      stderr: 'kvctl: value is 42 bytes of JSON; the limit is 16 bytes (KV_MAX_VALUE_BYTES) (413 value_too_large)\n',
    });
    expect((await kvctl(['create', 'one', '1'], env)).code).toBe(0);
    expect(await kvctl(['create', 'two', '2'], env)).toEqual({
      code: 6,
      stdout: '',
      stderr: 'kvctl: the store holds its limit of 1 keys (KV_MAX_KEYS); delete keys to make room (507 insufficient_storage)\n',
    });
  });

  it('usage: 1, for a line kvctl cannot use, with a pointer to --help', async () => {
    const cases: Array<[string[], string]> = [
      [
        ['frobnicate'],
        "kvctl: unknown command 'frobnicate'; the commands are get, create, put, rm, ls, watch, txn, export, import, health\nRun 'kvctl --help' for usage.\n",
      ],
      [['get'], "kvctl: usage: kvctl get KEY (got 0 arguments)\nRun 'kvctl get --help' for usage.\n"],
      [['get', 'a', 'b'], "kvctl: usage: kvctl get KEY (got 2 arguments)\nRun 'kvctl get --help' for usage.\n"],
      [
        ['get', 'a', '--ttl', '5'],
        "kvctl: Unknown option '--ttl'. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- \"--ttl\"\nRun 'kvctl get --help' for usage.\n",
      ],
      [
        ['create', 'a', 'hello'],
        `kvctl: VALUE_JSON is not JSON (Unexpected token 'h', "hello" is not valid JSON); a string needs its quotes, e.g. '"hello"'\nRun 'kvctl create --help' for usage.\n`,
      ],
      [
        ['create', 'a', '1', '--ttl', '0'],
        "kvctl: --ttl must be a number of seconds greater than 0, got '0'\nRun 'kvctl create --help' for usage.\n",
      ],
      [
        ['put', 'a', '1', '--if-match', 'abc'],
        "kvctl: --if-match must be a revision such as 17 (or '*'), got 'abc'\nRun 'kvctl put --help' for usage.\n",
      ],
      [['get', 'a', '-o', 'yaml'], "kvctl: -o must be text or json, got 'yaml'\nRun 'kvctl get --help' for usage.\n"],
      [
        ['get', 'a', '--url', 'ftp://x'],
        "kvctl: --url must be an http:// or https:// URL, got 'ftp://x'\nRun 'kvctl get --help' for usage.\n",
      ],
    ];
    for (const [args, stderr] of cases)
      expect(await kvctl(args, { KV_URL: 'http://127.0.0.1:1' }), args.join(' ')).toEqual({ code: 1, stdout: '', stderr });
    const bare = await kvctl([]);
    expect({ code: bare.code, stdout: bare.stdout }).toEqual({ code: 1, stdout: '' });
    expect(bare.stderr).toMatch(/^kvctl: kv_store from the shell\n/);
  });

  it('a refusal of bad input by the store (400) is a usage error too: 1', async () => {
    const { env } = await serve();
    expect(await kvctl(['get', 'a\u0001b'], env)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'kvctl: key must not contain control characters (U+0000-U+001F, U+007F) (400 invalid_key)\n',
    });
  });
});

describe('kvctl from the repository root', () => {
  it('runs as `npx kvctl` after the build', async () => {
    const run = await finished(
      spawn('npx', ['--no-install', 'kvctl', 'get', '--help'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', npm_config_update_notifier: 'false' },
      }),
    );
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^Usage: kvctl get KEY \[OPTIONS\]\n/);
  });
});
