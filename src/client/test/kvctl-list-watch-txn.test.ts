import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KvClient } from '../src/index.js';
import { assertFreshBuild, closedPort, kvctl, startKvctl } from './kvctl-process.js';
import { type RealStore, startRealStore } from './real-store.js';

/**
 * kvctl ls, watch and txn as a user runs them: the built binary in a child process against a
 * real kv_store on 127.0.0.1, asserting stdout, stderr and the exit code of each.
 */

let store: RealStore | undefined;
async function serve(
  env: Record<string, string> = {},
): Promise<{ url: string; env: Record<string, string>; real: RealStore; client: KvClient }> {
  store = await startRealStore(env);
  return { url: store.url, env: { KV_URL: store.url }, real: store, client: new KvClient({ baseUrl: store.url }) };
}

const dir = mkdtempSync(join(tmpdir(), 'kvctl-test-'));
beforeAll(assertFreshBuild);
afterEach(async () => {
  await store?.close();
  store = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Four keys at revisions 1 to 4, one of them expiring; its expiresAt. */
async function fourKeys(client: KvClient): Promise<string> {
  await client.create('users/1', { name: 'Ada' });
  const expiring = await client.create('users/2', [1, 2], { ttl: 3600 });
  await client.create('users/x/1', 1);
  await client.create('app', true);
  return expiring.expiresAt as string;
}

describe('kvctl ls', () => {
  it('prints a table of key, version, revision and expiry, in key order', async () => {
    const { env, client } = await serve();
    const expires = await fourKeys(client);
    expect(await kvctl(['ls'], env)).toEqual({
      code: 0,
      stdout: [
        'KEY        VERSION  REVISION  EXPIRES',
        'app        1        4         never',
        'users/1    1        1         never',
        `users/2    1        2         ${expires}`,
        'users/x/1  1        3         never',
        '',
      ].join('\n'),
      stderr: '',
    });
  });

  it('--values adds each value as JSON; a PREFIX keeps to the keys under it', async () => {
    const { env, client } = await serve();
    const expires = await fourKeys(client);
    expect(await kvctl(['ls', 'users/', '--values'], env)).toEqual({
      code: 0,
      stdout: [
        'KEY        VERSION  REVISION  EXPIRES                   VALUE',
        'users/1    1        1         never                     {"name":"Ada"}',
        `users/2    1        2         ${expires}  [1,2]`,
        'users/x/1  1        3         never                     1',
        '',
      ].join('\n'),
      stderr: '',
    });
  });

  it('--delimiter rolls keys up into (prefix) rows, in order among the keys', async () => {
    const { env, client } = await serve();
    await fourKeys(client);
    expect(await kvctl(['ls', '--delimiter', '/'], env)).toEqual({
      code: 0,
      stdout: ['KEY     VERSION   REVISION  EXPIRES', 'app     1         4         never', 'users/  (prefix)', ''].join('\n'),
      stderr: '',
    });
    const { stdout } = await kvctl(['ls', 'users/', '--delimiter', '/'], env);
    expect(stdout.split('\n')).toEqual([
      'KEY       VERSION   REVISION  EXPIRES',
      'users/1   1         1         never',
      expect.stringMatching(/^users\/2 {3}1 {9}2 {9}\d{4}-\d\d-\d\dT/),
      'users/x/  (prefix)',
      '',
    ]);
  });

  it('--limit stops after N rows and says more follow; an empty listing says so on stderr', async () => {
    const { env, client } = await serve();
    await fourKeys(client);
    expect(await kvctl(['ls', '--limit', '2'], env)).toEqual({
      code: 0,
      stdout: ['KEY      VERSION  REVISION  EXPIRES', 'app      1        4         never', 'users/1  1        1         never', ''].join(
        '\n',
      ),
      stderr: 'more follow: these are the first 2 (--limit 2)\n',
    });
    expect(await kvctl(['ls', 'nothing/'], env)).toEqual({ code: 0, stdout: '', stderr: "no keys under 'nothing/'\n" });
    expect(await kvctl(['ls', 'nothing/', '-o', 'json'], env)).toEqual({
      code: 0,
      stdout: '{"revision":4,"items":[],"prefixes":[],"more":false}\n',
      stderr: '',
    });
  });

  it('-o json prints one document: the items as kv_store lists them, the prefixes, the revision and more', async () => {
    const { env, client } = await serve();
    await fourKeys(client);
    const page = await client.listPage({ values: true, delimiter: '/', limit: 1000 });
    const run = await kvctl(['ls', '--values', '--delimiter', '/', '-o', 'json'], env);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(run.stdout.endsWith('}\n') && run.stdout.indexOf('\n') === run.stdout.length - 1).toBe(true);
    expect(JSON.parse(run.stdout)).toEqual({ revision: 4, items: page.items, prefixes: ['users/'], more: false });
    const limited = JSON.parse((await kvctl(['ls', '--limit', '1', '-o', 'json'], env)).stdout) as {
      items: { key: string }[];
      more: boolean;
    };
    expect({ keys: limited.items.map((i) => i.key), more: limited.more }).toEqual({ keys: ['app'], more: true });
  });

  it('follows the cursors to the end: 2,500 keys over three pages, every one once, in order', async () => {
    const { env, client } = await serve({ KV_MAX_TXN_OPS: '2500' });
    const keys = Array.from({ length: 2500 }, (_, i) => `k/${String(i).padStart(4, '0')}`);
    const txn = client.txn();
    for (const key of [...keys].reverse()) txn.set(key, key);
    await txn.commit();
    // The listing shows the store as it is when it starts, at the store's revision then.
    const { revision } = await client.create('later', 1);

    const all = JSON.parse((await kvctl(['ls', 'k/', '-o', 'json'], env)).stdout) as {
      revision: number;
      items: { key: string }[];
      more: boolean;
    };
    expect({ revision: all.revision, more: all.more }).toEqual({ revision, more: false });
    expect(all.items.map((i) => i.key)).toEqual(keys);
    const first = JSON.parse((await kvctl(['ls', 'k/', '--limit', '1500', '-o', 'json'], env)).stdout) as typeof all;
    expect({ count: first.items.length, last: first.items.at(-1)?.key, more: first.more }).toEqual({
      count: 1500,
      last: 'k/1499',
      more: true,
    });
    const exact = JSON.parse((await kvctl(['ls', 'k/', '--limit', '2500', '-o', 'json'], env)).stdout) as typeof all;
    expect({ count: exact.items.length, more: exact.more }).toEqual({ count: 2500, more: false });
    const text = await kvctl(['ls', 'k/'], env);
    expect(text.stdout.split('\n')).toHaveLength(2502);
  });

  it('refuses a bad --limit or --delimiter (1); auth (4) and unreachable (5) as every command', async () => {
    for (const [args, stderr] of [
      [['ls', '--limit', '0'], "kvctl: --limit must be a whole number of at least 1, got '0'\nRun 'kvctl ls --help' for usage.\n"],
      [['ls', '--limit', 'ten'], "kvctl: --limit must be a whole number of at least 1, got 'ten'\nRun 'kvctl ls --help' for usage.\n"],
      [['ls', '--delimiter='], "kvctl: --delimiter must not be empty\nRun 'kvctl ls --help' for usage.\n"],
      [['ls', 'a', 'b'], "kvctl: usage: kvctl ls [PREFIX] (got 2 arguments)\nRun 'kvctl ls --help' for usage.\n"],
    ] as const) {
      expect(await kvctl(args, { KV_URL: 'http://127.0.0.1:1' }), args.join(' ')).toEqual({ code: 1, stdout: '', stderr });
    }
    const { env } = await serve({ KV_AUTH_TOKEN: 'write-token-1' });
    expect(await kvctl(['ls'], env)).toEqual({
      code: 4,
      stdout: '',
      stderr: 'kvctl: this store requires Authorization: Bearer <token> (401 unauthorized)\n',
    });
    const port = await closedPort();
    expect(await kvctl(['ls', 'a/'], { KV_URL: `http://127.0.0.1:${port}` })).toEqual({
      code: 5,
      stdout: '',
      stderr: `kvctl: kv_store at http://127.0.0.1:${port}/v1/?prefix=a%2F&limit=1000 could not be reached (GET): connect ECONNREFUSED 127.0.0.1:${port}\n`,
    });
  });
});

describe('kvctl watch', () => {
  it('prints one JSON line per change after --after, a transaction’s changes at one revision; SIGINT ends it with 0', async () => {
    const { env, client } = await serve();
    const start = (await client.create('elsewhere', 0)).revision;
    const watch = startKvctl(['watch', 'w/', '--after', String(start)], env);
    await client.create('w/a', { x: 1 });
    await client.create('outside', 1);
    const { revision } = await client.txn().delete('w/a').set('w/b', 'moved').incr('w/n', 2).commit();
    const lines = await watch.lines(4);
    const run = await watch.stop('SIGINT');
    expect(run).toEqual({ code: 0, stdout: `${lines.join('\n')}\n`, stderr: '' });
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      { type: 'put', key: 'w/a', value: { x: 1 }, version: 1, revision: start + 1, expiresAt: null },
      { type: 'delete', key: 'w/a', revision, reason: 'txn' },
      { type: 'put', key: 'w/b', value: 'moved', version: 1, revision, expiresAt: null, reason: 'txn' },
      { type: 'put', key: 'w/n', value: 2, version: 1, revision, expiresAt: null, reason: 'txn' },
    ]);
  });

  it('SIGTERM ends it with 0 too', async () => {
    const { env, client } = await serve();
    await client.create('a', 1);
    const watch = startKvctl(['watch', '--after', '0', '-o', 'json'], env);
    expect(await watch.lines(1)).toEqual(['{"type":"put","key":"a","value":1,"version":1,"revision":1,"expiresAt":null}']);
    expect(await watch.stop('SIGTERM')).toEqual({
      code: 0,
      stdout: '{"type":"put","key":"a","value":1,"version":1,"revision":1,"expiresAt":null}\n',
      stderr: '',
    });
  });

  it('resumes by itself after its connection drops: every change once, none lost, none twice', async () => {
    const { env, real } = await serve();
    const watch = startKvctl(['watch', '--after', '0'], env);
    // Writes come from kvctl processes of their own, so no connection of this test is among those dropped.
    expect((await kvctl(['create', 'k1', '1'], env)).code).toBe(0);
    await watch.lines(1);
    real.app.server.closeAllConnections();
    expect((await kvctl(['create', 'k2', '2'], env)).code).toBe(0);
    expect((await kvctl(['put', 'k1', '3'], env)).code).toBe(0);
    const lines = await watch.lines(3);
    const run = await watch.stop('SIGINT');
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(
      run.stdout
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { key: string; revision: number; value: number }),
    ).toEqual([
      expect.objectContaining({ key: 'k1', revision: 1, value: 1 }),
      expect.objectContaining({ key: 'k2', revision: 2, value: 2 }),
      expect.objectContaining({ key: 'k1', revision: 3, value: 3 }),
    ]);
    expect(lines).toHaveLength(3);
  });

  it('a revision the store no longer holds: a message saying what to do, exit 7', async () => {
    const { env, client } = await serve({ KV_WATCH_HISTORY: '2' });
    for (const n of [1, 2, 3, 4, 5]) await client.create(`k${n}`, n);
    expect(await kvctl(['watch', '--after', '1'], env)).toEqual({
      code: 7,
      stdout: '',
      stderr:
        "kvctl: the store no longer holds every change after revision 1 (the oldest it holds is 4); list again with 'kvctl ls -o json' and watch with --after <its revision> (410 history_compacted)\n",
    });
    const json = await kvctl(['watch', '--after', '1', '-o', 'json'], env);
    expect(json.code).toBe(7);
    expect(JSON.parse(json.stderr)).toEqual({
      error: {
        status: 410,
        code: 'history_compacted',
        message: expect.stringContaining('the store no longer holds every change after revision 1'),
        after: 1,
        oldestRevision: 4,
      },
    });
  });

  it('refuses a bad --after (1) and a missing token (4)', async () => {
    expect(await kvctl(['watch', '--after', 'soon'], { KV_URL: 'http://127.0.0.1:1' })).toEqual({
      code: 1,
      stdout: '',
      stderr: "kvctl: --after must be a whole number of at least 0, got 'soon'\nRun 'kvctl watch --help' for usage.\n",
    });
    const { env } = await serve({ KV_AUTH_TOKEN: 'write-token-1' });
    expect(await kvctl(['watch'], env)).toEqual({
      code: 4,
      stdout: '',
      stderr: 'kvctl: this store requires Authorization: Bearer <token> (401 unauthorized)\n',
    });
  });
});

describe('kvctl txn', () => {
  /** Writes `text` to a file of its own; its path. */
  function file(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  it('applies a transaction from a file and prints its revision and each op’s result', async () => {
    const { env, client } = await serve();
    await client.create('cfg/a', { enabled: false });
    await client.create('tmp/1', 1);
    await client.create('tmp/2', 2);
    const path = file(
      'move.json',
      JSON.stringify({
        checks: [{ key: 'cfg/a', version: 1 }],
        ops: [
          { op: 'replace', key: 'cfg/a', value: { enabled: true } },
          { op: 'incr', key: 'stats/n', by: 5 },
          { op: 'deletePrefix', prefix: 'tmp/' },
          { op: 'get', key: 'cfg/a' },
          { op: 'get', key: 'missing' },
        ],
      }),
    );
    expect(await kvctl(['txn', path], env)).toEqual({
      code: 0,
      stdout: [
        'applied at revision 4',
        '  ops[0]  replace       cfg/a    {"enabled":true}  (version 2, revision 4)',
        '  ops[1]  incr          stats/n  5  (version 1, revision 4)',
        '  ops[2]  deletePrefix  tmp/     deleted 2',
        '  ops[3]  get           cfg/a    {"enabled":true}  (version 2, revision 4)',
        '  ops[4]  get           missing  (no such key)',
        '',
      ].join('\n'),
      stderr: '',
    });
    expect((await client.list().toArray()).map((i) => [i.key, i.revision])).toEqual([
      ['cfg/a', 4],
      ['stats/n', 4],
    ]);
  });

  it('reads standard input without FILE; -o json prints kv_store’s answer; values keep their exact text', async () => {
    const { env, real, client } = await serve();
    const run = await kvctl(['txn', '-o', 'json'], env, '{"ops": [{"op": "set", "key": "n", "value": [12345678901234567890, 1.50, 1E2]}]}');
    const entry = await client.get('n');
    const { etag: _etag, ...result } = entry;
    expect(run).toEqual({ code: 0, stdout: `${JSON.stringify({ succeeded: true, revision: 1, results: [result] })}\n`, stderr: '' });
    expect((await real.store.get('n'))?.value).toBe('[12345678901234567890, 1.50, 1E2]');
  });

  it('not applied: every failed check and op with expected and actual on stderr, exit 3, nothing changed', async () => {
    const { env, client } = await serve();
    await client.create('lock', 'someone');
    const body =
      '{"checks": [{"key": "lock", "exists": false}], "ops": [{"op": "create", "key": "owner", "value": "me"}, {"op": "create", "key": "lock", "value": "me"}]}';
    expect(await kvctl(['txn'], env, body)).toEqual({
      code: 3,
      stdout: '',
      stderr: [
        'kvctl: the transaction was not applied: 2 failed: checks[0] (lock), ops[1] (lock) (409 txn_failed)',
        '  checks[0]  lock  expected {"exists":false}, actual {"exists":true}',
        '  ops[1]     lock  expected {"exists":false}, actual {"exists":true,"version":1,"revision":1}',
        '',
      ].join('\n'),
    });
    await expect(client.get('owner')).rejects.toMatchObject({ status: 404 });
    const json = await kvctl(['txn', '-o', 'json'], env, body);
    expect({ code: json.code, stdout: json.stdout }).toEqual({ code: 3, stdout: '' });
    expect(JSON.parse(json.stderr)).toEqual({
      error: {
        status: 409,
        code: 'txn_failed',
        message: 'the transaction was not applied: 2 failed: checks[0] (lock), ops[1] (lock)',
        succeeded: false,
        revision: 1,
        failures: [
          { type: 'check', index: 0, key: 'lock', expected: { exists: false }, actual: { exists: true } },
          { type: 'op', index: 1, key: 'lock', expected: { exists: false }, actual: { exists: true, version: 1, revision: 1 } },
        ],
      },
    });
  });

  it('usage (1) for a missing file, text that is not JSON or a transaction kv_store refuses; 6 past KV_MAX_TXN_OPS; 4 for a read-only token', async () => {
    const { env } = await serve({ KV_MAX_TXN_OPS: '2', KV_AUTH_TOKEN: 'write-token-1', KV_READ_TOKEN: 'read-token-1' });
    const writer = { ...env, KV_TOKEN: 'write-token-1' };
    const missing = join(dir, 'missing.json');
    expect(await kvctl(['txn', missing], writer)).toEqual({
      code: 1,
      stdout: '',
      stderr: `kvctl: cannot read '${missing}': no such file\nRun 'kvctl txn --help' for usage.\n`,
    });
    expect(await kvctl(['txn'], writer, '{"ops": [')).toEqual({
      code: 1,
      stdout: '',
      stderr: `kvctl: the transaction in standard input is not JSON (Unexpected end of JSON input)\nRun 'kvctl txn --help' for usage.\n`,
    });
    expect(await kvctl(['txn'], writer, '[]')).toEqual({
      code: 1,
      stdout: '',
      stderr: `kvctl: the transaction must be a JSON object: {"checks": [...], "ops": [...]}\nRun 'kvctl txn --help' for usage.\n`,
    });
    expect(await kvctl(['txn'], writer, '{"ops": [{"op": "upsert", "key": "a"}]}')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'kvctl: ops[0].op must be one of create, replace, set, delete, deletePrefix, incr, get (400 invalid_body)\n',
    });
    expect(
      await kvctl(['txn'], writer, '{"ops": [{"op": "get", "key": "a"}, {"op": "get", "key": "b"}, {"op": "get", "key": "c"}]}'),
    ).toEqual({
      code: 6,
      stdout: '',
      stderr: 'kvctl: the transaction has 3 checks and ops; the limit is 2 (KV_MAX_TXN_OPS) (413 too_many_ops)\n',
    });
    expect(await kvctl(['txn'], { ...env, KV_TOKEN: 'read-token-1' }, '{"ops": [{"op": "set", "key": "a", "value": 1}]}')).toEqual({
      code: 4,
      stdout: '',
      stderr: 'kvctl: the bearer token is read-only; writes need the read-write token (KV_AUTH_TOKEN) (403 forbidden)\n',
    });
    expect(await kvctl(['txn'], { ...env, KV_TOKEN: 'read-token-1' }, '{"ops": [{"op": "get", "key": "a"}]}')).toEqual({
      code: 0,
      stdout: 'applied at revision 0\n  ops[0]  get  a  (no such key)\n',
      stderr: '',
    });
  });
});
