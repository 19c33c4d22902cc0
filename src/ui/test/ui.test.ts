/**
 * The web UI end to end: a real kv_store serving the built UI at /ui/, Debian's chromium, and a
 * second client (plain fetch) changing the store behind the UI's back. Deadlines here are hang
 * guards, not speed verdicts; the time a remote change took to show is printed.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import type { Browser, HTTPRequest, Page } from 'puppeteer-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  api,
  assertUiServed,
  editorText,
  type KvStore,
  launchBrowser,
  openPage,
  ROOT,
  rowNames,
  seed,
  startKvStore,
  typeInEditor,
  UI_DIST,
  type WatchedPage,
} from './browser.js';

/**
 * Where the screenshots go: docs/ui/ (committed, shown in the README) with UPDATE_SCREENSHOTS=1,
 * else .test-output/ui/ (ignored by git), so a test run leaves the tree clean.
 */
const SCREENSHOTS = join(ROOT, process.env.UPDATE_SCREENSHOTS === '1' ? 'docs/ui' : '.test-output/ui');
/** Hang guard for anything the page waits for. */
const WAIT = { timeout: 10_000 };
/** Hang guard for a change made by another client to show up (the issue asks for "within a second"). */
const LIVE = { timeout: 5_000 };
const TOKEN = 'ui-test-token-0123456789';

const big = (i: number): string => `big/k${String(i).padStart(4, '0')}`;

let store: KvStore;
let browser: Browser;
const pages: WatchedPage[] = [];

beforeAll(async () => {
  [store, browser] = await Promise.all([startKvStore(), launchBrowser()]);
  await assertUiServed(store);
  for (let i = 0; i < 1000; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => seed(store, big(i + j), { n: i + j })));
  }
  await seed(store, 'app/config', { name: 'kv', replicas: 3, limits: { cpu: '500m', memory: '256Mi' }, features: ['watch', 'ui'] });
  await seed(store, 'app/users/1', { name: 'Ada' });
  await seed(store, 'app/users/2', { name: 'Grace' });
  await seed(store, 'app/flags/beta', true);
  await seed(store, 'readme', 'Keys are folders by /.');
  mkdirSync(SCREENSHOTS, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await store?.stop();
});

/** API error statuses the current test provokes on purpose (chromium logs them as console errors). */
let expectedStatuses: number[] = [];

afterEach(async () => {
  const errors = pages.flatMap((watched) => watched.errors);
  const unexpected = pages.flatMap((watched) => watched.apiErrors).filter((answer) => !expectedStatuses.includes(answer.status));
  for (const watched of pages.splice(0)) if (!watched.page.isClosed()) await watched.page.close();
  expectedStatuses = [];
  expect(errors).toEqual([]);
  expect(unexpected).toEqual([]);
});

/** Opens the UI at `hash` on `on` (the shared store by default). */
async function open(hash: string, width = 1280, height = 800, on: KvStore = store): Promise<Page> {
  const watched = await openPage(browser, `${on.url}/ui/${hash}`, width, height);
  pages.push(watched);
  return watched.page;
}

/** Scrolls the folder pane to its end as a user would; resolves with the number of rows once more have come. */
function scrollToEnd(page: Page): Promise<number> {
  return page.evaluate(
    (timeout: number) =>
      new Promise<number>((resolve, reject) => {
        const rows = document.querySelector('#rows') as HTMLElement;
        const pane = document.querySelector('#folder-pane') as HTMLElement;
        const before = rows.children.length;
        const timer = setTimeout(() => reject(new Error(`no rows came after scrolling past ${before}`)), timeout);
        const observer = new MutationObserver(() => {
          if (rows.children.length === before) return;
          clearTimeout(timer);
          observer.disconnect();
          resolve(rows.children.length);
        });
        observer.observe(rows, { childList: true });
        pane.scrollTo(0, pane.scrollHeight);
      }),
    WAIT.timeout,
  );
}

function text(page: Page, selector: string): Promise<string> {
  return page.$eval(selector, (el) => el.textContent ?? '');
}

function waitForText(page: Page, selector: string, wanted: string, options = WAIT): Promise<unknown> {
  return page.waitForFunction(
    (s: string, w: string) => [...document.querySelectorAll(s)].some((el) => el.textContent?.includes(w)),
    options,
    selector,
    wanted,
  );
}

/** The value of `key` as the store holds it, read by another client. */
async function stored(key: string): Promise<{ status: number; body: unknown }> {
  return api(store, 'GET', `/v1/${encodeURIComponent(key)}`);
}

describe('serving', () => {
  const TYPES: Record<string, RegExp> = {
    '.html': /^text\/html\b/,
    '.js': /^text\/javascript\b/,
    '.css': /^text\/css\b/,
    '.svg': /^image\/svg\+xml\b/,
  };

  test('kv_store serves every built file at /ui/ with its content type, index.html at /ui/, and sends /ui to /ui/', async () => {
    const files = readdirSync(UI_DIST, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => relative(UI_DIST, join(entry.parentPath, entry.name)));
    expect(files).toEqual(expect.arrayContaining(['index.html', 'favicon.svg']));
    for (const file of files) {
      const response = await fetch(`${store.url}/ui/${file}`);
      expect(response.status, file).toBe(200);
      expect(response.headers.get('Content-Type'), file).toMatch(TYPES[extname(file)] ?? /^$/);
      expect(Buffer.from(await response.arrayBuffer()).equals(readFileSync(join(UI_DIST, file))), file).toBe(true);
    }
    const index = await fetch(`${store.url}/ui/`);
    expect(index.status).toBe(200);
    expect(await index.text()).toBe(readFileSync(join(UI_DIST, 'index.html'), 'utf8'));
    // Without the slash, the page's relative asset paths would point outside /ui/.
    const bare = await fetch(`${store.url}/ui`, { redirect: 'manual' });
    expect([301, 308]).toContain(bare.status);
    expect(bare.headers.get('Location')).toBe('/ui/');
  });

  test('with KV_UI=off, /ui/ is 404 not_found', async () => {
    const off = await startKvStore({ KV_UI: 'off' });
    try {
      const response = await fetch(`${off.url}/ui/`);
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ error: { code: 'not_found' } });
    } finally {
      await off.stop();
    }
  });
});

describe('browsing', () => {
  test('the root shows folders and keys; a folder of 1,000 keys loads a page at a time as it scrolls', async () => {
    const listings: string[] = [];
    const page = await open('');
    page.on('request', (request: HTTPRequest) => {
      const url = new URL(request.url());
      if (url.pathname === '/v1/' && url.searchParams.get('watch') === null) listings.push(url.search);
    });
    await page.waitForSelector('#rows a.row[data-name="big/"]', WAIT);
    const root = await page.$$eval('#rows a.row', (links) => links.map((a) => `${a.className} ${a.getAttribute('data-name')}`));
    expect(root).toEqual(expect.arrayContaining(['row folder app/', 'row folder big/', 'row key readme']));

    await page.click('#rows a.row[data-name="big/"]');
    await page.waitForFunction(() => location.hash === '#/f/big/' && document.querySelectorAll('#rows a.row').length === 100, WAIT);
    expect(await rowNames(page)).toEqual(Array.from({ length: 100 }, (_, i) => big(i)));
    await waitForText(page, '.summary', '1,000 keys under big/');
    expect(await page.$$eval('.crumbs a', (links) => links.map((a) => [a.textContent, a.getAttribute('aria-current')]))).toEqual([
      ['All keys', null],
      ['big/', 'page'],
    ]);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(SCREENSHOTS, 'folder.png') });

    const counts: number[] = [];
    while (counts.length < 20 && (counts.at(-1) ?? 100) < 1000) counts.push(await scrollToEnd(page));
    expect(counts).toEqual([200, 300, 400, 500, 600, 700, 800, 900, 1000]);
    expect(await rowNames(page)).toEqual(Array.from({ length: 1000 }, (_, i) => big(i)));
    expect(await page.$('.load-more')).toBeNull();
    // Ten pages of 100: the first by prefix, nine by cursor.
    const bigPages = listings.filter((search) => new URLSearchParams(search).get('prefix') === 'big/');
    expect(bigPages).toHaveLength(10);
    expect(bigPages.filter((search) => new URLSearchParams(search).has('cursor'))).toHaveLength(9);
  });

  test('the search box lists by prefix on the server, finding keys not loaded yet', async () => {
    const prefixes: string[] = [];
    const page = await open('#/f/big/');
    page.on('request', (request: HTTPRequest) => {
      const url = new URL(request.url());
      if (url.pathname === '/v1/' && url.searchParams.get('watch') === null) prefixes.push(url.searchParams.get('prefix') ?? '');
    });
    await page.waitForFunction(() => document.querySelectorAll('#rows a.row').length === 100, WAIT);
    expect(await rowNames(page)).not.toContain(big(950));

    await page.type('::-p-aria(Search keys by prefix)', 'k095');
    await page.waitForFunction(() => document.querySelector('#rows a.row')?.getAttribute('data-name') === 'big/k0950', WAIT);
    expect(await rowNames(page)).toEqual(Array.from({ length: 10 }, (_, i) => big(950 + i)));
    await waitForText(page, '.summary', '10 keys starting with big/k095');
    expect(prefixes).toContain('big/k095');

    // Escape clears the search: the folder is listed again from its start.
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => document.querySelectorAll('#rows a.row').length === 100, WAIT);
    expect((await rowNames(page))[0]).toBe(big(0));
  });
});

describe('editing', () => {
  test('a key opens in the JSON editor with its version, revision and times; Save sends PUT with If-Match', async () => {
    await seed(store, 'edit/doc', { title: 'draft', tags: ['a', 'b'] });
    const before = (await stored('edit/doc')).body as { revision: number };
    const puts: Record<string, string>[] = [];
    const page = await open('#/k/edit/doc');
    page.on('request', (request: HTTPRequest) => {
      if (request.method() === 'PUT') puts.push(request.headers());
    });
    await page.waitForSelector('#save-button', WAIT);
    expect(JSON.parse(await editorText(page))).toEqual({ title: 'draft', tags: ['a', 'b'] });
    const meta = await page.$$eval('.meta div', (items) => items.map((item) => item.textContent));
    expect(meta.slice(0, 2)).toEqual(['Version1', `Revision${before.revision}`]);
    expect(meta.slice(2).map((item) => item?.replace(/^(Created|Updated|Expires).*$/, '$1'))).toEqual(['Created', 'Updated', 'Expires']);
    expect(meta[4]).toBe('Expiresnever');

    // JSON is checked as it is typed: invalid text disables Save.
    await typeInEditor(page, '{"title": "final",');
    await waitForText(page, '#json-status', 'Invalid JSON');
    expect(await page.$eval('#save-button', (b) => (b as HTMLButtonElement).disabled)).toBe(true);
    await page.waitForSelector('.cm-lint-marker-error', WAIT);

    await typeInEditor(page, '{\n  "title": "final",\n  "tags": ["a", "b", "c"],\n  "limits": {"cpu": "500m", "memory": "256Mi"}\n}');
    await waitForText(page, '#json-status', 'Valid JSON');
    await page.waitForFunction(() => document.querySelector('.cm-lint-marker-error') === null, WAIT);
    await page.screenshot({ path: join(SCREENSHOTS, 'key-editor.png') });
    await page.click('#save-button');
    await waitForText(page, '.notice', 'Saved: version 2.');
    expect(puts).toHaveLength(1);
    expect(puts[0]?.['if-match']).toBe(`"${before.revision}"`);
    const after = await stored('edit/doc');
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({
      key: 'edit/doc',
      version: 2,
      value: { title: 'final', tags: ['a', 'b', 'c'], limits: { cpu: '500m', memory: '256Mi' } },
    });
    await waitForText(page, '.meta', 'Version2');
  });

  test('New key creates with POST; creating a key that exists says it already exists', async () => {
    expectedStatuses = [409];
    await seed(store, 'made/existing', 1);
    const page = await open('#/f/made/');
    await page.waitForSelector('#rows a.row[data-name="made/existing"]', WAIT);
    await page.click('::-p-aria(New key)');
    await page.waitForSelector('#new-key-name', WAIT);
    expect(await page.$eval('#new-key-name', (input) => (input as HTMLInputElement).value)).toBe('made/');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('new-key-name');

    await page.type('#new-key-name', 'fresh');
    // Big integers and number spellings survive: the value is sent as the text typed.
    await typeInEditor(page, '{"id": 12345678901234567890, "ratio": 1.50}');
    await page.click('#create-button');
    await page.waitForFunction(() => location.hash === '#/k/made/fresh', WAIT);
    await waitForText(page, '.notice', 'Created: version 1.');
    const raw = await fetch(`${store.url}/v1/made%2Ffresh`).then((r) => r.text());
    expect(raw).toContain('"value":{"id": 12345678901234567890, "ratio": 1.50}');
    await page.waitForSelector('#rows a.row[data-name="made/fresh"]', WAIT);

    await page.click('::-p-aria(New key)');
    await page.waitForSelector('#new-key-name', WAIT);
    await page.type('#new-key-name', 'existing');
    await typeInEditor(page, '2');
    await page.click('#create-button');
    await waitForText(page, '.notice', 'made/existing already exists');
    expect(await stored('made/existing')).toMatchObject({ status: 200, body: { value: 1, version: 1 } });
  });

  test('Delete asks first (Escape keeps the key), then sends DELETE with If-Match', async () => {
    await seed(store, 'del/a', 'a');
    await seed(store, 'del/b', 'b');
    const deletes: Record<string, string>[] = [];
    const page = await open('#/k/del/a');
    page.on('request', (request: HTTPRequest) => {
      if (request.method() === 'DELETE') deletes.push(request.headers());
    });
    await page.waitForSelector('#delete-button', WAIT);
    await page.click('#delete-button');
    await page.waitForSelector('dialog[open]', WAIT);
    expect(await text(page, 'dialog[open] h2')).toBe('Delete this key?');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => document.querySelector('dialog') === null, WAIT);
    expect((await stored('del/a')).status).toBe(200);

    await page.click('#delete-button');
    await page.waitForSelector('dialog[open]', WAIT);
    await page.click('dialog[open] button.danger');
    await page.waitForFunction(() => location.hash === '#/f/del/', WAIT);
    await waitForText(page, '#toast', 'Deleted del/a.');
    await page.waitForFunction(() => document.querySelector('#rows a.row[data-name="del/a"]') === null, WAIT);
    expect(await rowNames(page)).toEqual(['del/b']);
    expect(deletes).toHaveLength(1);
    expect(deletes[0]?.['if-match']).toMatch(/^"\d+"$/);
    expect(await stored('del/a')).toMatchObject({ status: 404, body: { error: { code: 'key_not_found' } } });
  });
});

describe('live updates and conflicts', () => {
  test('changes made by another client show up in the open key and the open folder', async () => {
    await seed(store, 'live/watched', { n: 1 });
    const page = await open('#/k/live/watched');
    await page.waitForSelector('#save-button', WAIT);
    await waitForText(page, '#live', 'Live');

    let started = Date.now();
    expect((await api(store, 'PUT', '/v1/live%2Fwatched', { value: { n: 2 } })).status).toBe(200);
    await page.waitForFunction(() => document.querySelector('#key-pane .cm-content')?.textContent?.includes('"n": 2'), LIVE);
    console.log(`ui: a PUT by another client showed in the open key after ${Date.now() - started} ms`);
    await waitForText(page, '.meta', 'Version2');
    await waitForText(page, '.notice', 'Updated elsewhere: now version 2.');

    started = Date.now();
    await seed(store, 'live/new', true);
    await page.waitForSelector('#rows a.row[data-name="live/new"]', LIVE);
    console.log(`ui: a POST by another client showed in the open folder after ${Date.now() - started} ms`);
    await seed(store, 'live/sub/deeper', 1);
    await page.waitForSelector('#rows a.row.folder[data-name="live/sub/"]', LIVE);
    expect((await api(store, 'DELETE', '/v1/live%2Fnew')).status).toBe(204);
    await page.waitForFunction(() => document.querySelector('#rows a.row[data-name="live/new"]') === null, LIVE);
    expect(await rowNames(page)).toEqual(['live/sub/', 'live/watched']);
    // The count covers subfolders: live/watched and live/sub/deeper.
    await waitForText(page, '.summary', '2 keys under live/', LIVE);
  });

  test('a PUT by another client between open and save opens the conflict view; keep mine, or take theirs', async () => {
    expectedStatuses = [412];
    await seed(store, 'conflict/doc', { owner: 'server', replicas: 2 });
    const page = await open('#/k/conflict/doc');
    await page.waitForSelector('#save-button', WAIT);
    await typeInEditor(page, '{"owner": "me", "replicas": 3}');
    expect((await api(store, 'PUT', '/v1/conflict%2Fdoc', { value: { owner: 'them', replicas: 2 } })).status).toBe(200);
    await waitForText(page, '.notice', 'Changed elsewhere while you were editing (now version 2)');
    expect(JSON.parse(await editorText(page))).toEqual({ owner: 'me', replicas: 3 });

    await page.click('#save-button');
    await page.waitForSelector('dialog.conflict[open]', WAIT);
    expect(await text(page, 'dialog.conflict h2')).toBe('This key changed while you were editing');
    const sides = await page.$$eval('dialog.conflict section', (sections) =>
      sections.map((s) => [s.querySelector('h3')?.textContent, [...s.querySelectorAll('.cm-line')].map((l) => l.textContent).join('\n')]),
    );
    expect(sides.map(([title]) => title)).toEqual(['Your version (not saved)', 'On the server: version 2']);
    expect(JSON.parse(sides[0]?.[1] ?? '')).toEqual({ owner: 'me', replicas: 3 });
    expect(JSON.parse(sides[1]?.[1] ?? '')).toEqual({ owner: 'them', replicas: 2 });
    await page.screenshot({ path: join(SCREENSHOTS, 'conflict.png') });
    await page.click('dialog.conflict ::-p-aria(Keep mine)');
    await waitForText(page, '.notice', "Saved your version over the server's: now version 3.");
    expect(await stored('conflict/doc')).toMatchObject({ status: 200, body: { version: 3, value: { owner: 'me', replicas: 3 } } });

    // Again, and this time take the server's version.
    await typeInEditor(page, '{"owner": "me again"}');
    expect((await api(store, 'PUT', '/v1/conflict%2Fdoc', { value: { owner: 'them again' } })).status).toBe(200);
    await waitForText(page, '.notice', 'now version 4');
    await page.click('#save-button');
    await page.waitForSelector('dialog.conflict[open]', WAIT);
    await page.click("dialog.conflict ::-p-aria(Take the server's)");
    await waitForText(page, '.notice', "this is the server's version 4");
    expect(JSON.parse(await editorText(page))).toEqual({ owner: 'them again' });
    expect(await page.$eval('#revert-button', (b) => (b as HTMLButtonElement).disabled)).toBe(true);
    expect(await stored('conflict/doc')).toMatchObject({ status: 200, body: { version: 4, value: { owner: 'them again' } } });
  });
});

describe('access, keyboard and screen sizes', () => {
  test('with access control on, the UI asks for a token, keeps it for the tab, and sends it as a bearer token', async () => {
    expectedStatuses = [401];
    const secured = await startKvStore({ KV_AUTH_TOKEN: TOKEN });
    try {
      await seed(secured, 'secret/a', 1, { Authorization: `Bearer ${TOKEN}` });
      const page = await open('#/f/secret/', 1280, 800, secured);
      await page.waitForSelector('dialog.token-dialog[open]', WAIT);
      await page.type('::-p-aria(Token)', 'not-the-token');
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.querySelector('#token-help')?.textContent?.includes('refused'), WAIT);
      await page.type('::-p-aria(Token)', TOKEN);
      await page.keyboard.press('Enter');
      await page.waitForSelector('#rows a.row[data-name="secret/a"]', WAIT);
      expect(await page.evaluate(() => sessionStorage.getItem('kv.token'))).toBe(TOKEN);
      expect(await page.$eval('#token-button', (b) => (b as HTMLButtonElement).hidden)).toBe(false);
      await waitForText(page, '#live', 'Live');
      // Close the page first: a store stopping under its open watch would break the stream.
      await page.close();
    } finally {
      await secured.stop();
    }
  });

  test('keyboard: arrows move in the list, Enter opens a key, Escape goes back to the folder, focus is visible', async () => {
    const page = await open('#/f/app/');
    await page.waitForSelector('#rows a.row[data-name="app/config"]', WAIT);
    await page.focus('#search');
    await page.keyboard.press('ArrowDown');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-name'))).toBe('app/config');
    await page.keyboard.press('ArrowDown');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-name'))).toBe('app/flags/');
    await page.keyboard.press('ArrowUp');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-name'))).toBe('app/config');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement as Element).outlineStyle);
    expect(outline).not.toBe('none');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => location.hash === '#/k/app/config' && document.activeElement?.id === 'key-title', WAIT);
    await page.waitForSelector('#save-button', WAIT);
    await page.keyboard.press('Escape');
    // The hash changes at once; the hashchange event that moves the focus comes a task later.
    await page.waitForFunction(
      () => location.hash === '#/f/app/' && document.activeElement?.getAttribute('data-name') === 'app/config',
      WAIT,
    );
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-name'))).toBe('app/config');
    // One Tab stop for the whole list: Tab from a row leaves the list.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.closest('#rows'))).toBeNull();
  });

  test('readable at 400 px (one pane at a time) and at 1600 px (side by side), without sideways scrolling', async () => {
    const narrow = await open('#/k/app/config', 400, 800);
    await narrow.waitForSelector('#save-button', WAIT);
    expect(await narrow.$eval('#folder-pane', (pane) => getComputedStyle(pane).display)).toBe('none');
    expect(await narrow.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(400);
    await narrow.screenshot({ path: join(SCREENSHOTS, 'key-editor-400px.png') });
    await narrow.click('::-p-aria(← app/)');
    await narrow.waitForSelector('#rows a.row[data-name="app/config"]', WAIT);
    expect(await narrow.$eval('#key-pane', (pane) => getComputedStyle(pane).display)).toBe('none');
    expect(await narrow.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(400);

    const wide = await open('#/k/app/config', 1600, 900);
    await wide.waitForSelector('#save-button', WAIT);
    await wide.waitForSelector('#rows a.row[data-name="app/config"][aria-current="true"]', WAIT);
    expect(await wide.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1600);
  });
});
