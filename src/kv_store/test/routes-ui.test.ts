import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectError, testApp } from './helpers.js';

/** A UI build as Vite makes one: an index, a hashed asset, an icon. */
const dir = mkdtempSync(join(tmpdir(), 'kv-ui-'));
mkdirSync(join(dir, 'assets'));
writeFileSync(join(dir, 'index.html'), '<!doctype html><title>kv</title><script src="./assets/app-1a2b.js"></script>');
writeFileSync(join(dir, 'assets', 'app-1a2b.js'), 'console.log("kv")');
writeFileSync(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('GET /ui/ (the web UI, issue 14)', () => {
  it('serves the build: the page at /ui/, every file at its path, with its type and cache policy', async () => {
    const t = testApp({ KV_UI_DIR: dir });
    const page = await t.get('/ui/');
    expect({ status: page.statusCode, type: page.headers['content-type'], cache: page.headers['cache-control'], body: page.body }).toEqual({
      status: 200,
      type: 'text/html; charset=utf-8',
      cache: 'no-cache',
      body: '<!doctype html><title>kv</title><script src="./assets/app-1a2b.js"></script>',
    });
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    const asset = await t.get('/ui/assets/app-1a2b.js');
    expect([asset.statusCode, asset.headers['content-type'], asset.headers['cache-control'], asset.body]).toEqual([
      200,
      'text/javascript; charset=utf-8',
      'public, max-age=31536000, immutable',
      'console.log("kv")',
    ]);
    expect((await t.get('/ui/favicon.svg')).headers['content-type']).toBe('image/svg+xml');
    const head = await t.head('/ui/');
    expect([head.statusCode, head.body, head.headers['content-length']]).toEqual([200, '', String(Buffer.byteLength(page.body))]);
  });

  it('sends /ui to /ui/, so the page resolves its relative asset paths', async () => {
    const t = testApp({ KV_UI_DIR: dir });
    const res = await t.get('/ui');
    expect([res.statusCode, res.headers.location]).toEqual([308, '/ui/']);
  });

  it('answers 404 not_found for any path that is not a file of the build, traversal attempts included', async () => {
    const t = testApp({ KV_UI_DIR: dir });
    for (const path of ['/ui/nope.js', '/ui/assets', '/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/assets/../index.html']) {
      const res = await t.get(path);
      expect(res.statusCode, path).toBe(404);
      expect(res.json().error.code, path).toBe('not_found');
    }
  });

  it('is open under access control: the files need no token, every data call does', async () => {
    const t = testApp({ KV_UI_DIR: dir, KV_AUTH_TOKEN: 'write-token-1' });
    expect((await t.get('/ui/')).statusCode).toBe(200);
    expect((await t.get('/v1/k')).statusCode).toBe(401);
  });

  it('is off with KV_UI=off: /ui/ is 404 not_found like any unknown path', async () => {
    const t = testApp({ KV_UI_DIR: dir, KV_UI: 'off' });
    expectError(await t.get('/ui/'), 404, 'not_found', "no resource at '/ui/'; keys live under /v1/");
  });

  it('says how to build it when there is no build', async () => {
    const missing = join(dir, 'not-built');
    const t = testApp({ KV_UI_DIR: missing });
    expectError(await t.get('/ui/'), 404, 'not_found', `the web UI is not built in ${missing} (run make build)`);
  });
});
