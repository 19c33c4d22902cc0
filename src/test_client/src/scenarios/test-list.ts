import type { JsonValue } from '@kv/client';
import type { Scenario } from '../run/scenario.js';

/**
 * An ordered listing is paged at one revision: keys come in order, a page at a time through
 * the cursor, and writes made between pages do not show (the cursor keeps the listing's
 * revision); a cursor sent again gives the same page; a delimiter rolls keys up; a cursor with
 * other parameters and a limit past 1000 are refused.
 */
export const testList: Scenario = {
  name: 'test_list',
  description:
    'create five keys under a fresh prefix; list them two at a time (200, count 5); overwrite one and add another; the next pages still show the first revision; a cursor sent again gives the same page; a delimiter rolls keys up; a cursor with other parameters (400) and limit=1001 (400) are refused; clean up',
  async run(t) {
    const names = ['a', 'b', 'c/1', 'c/2', 'd'];
    const keys = names.map((n) => t.keyUnder(n));
    const [a, b, c1, c2, d] = keys as [string, string, string, string, string];
    const prefix = `${t.key}/`;
    const list = (query: string) => `/v1/?prefix=${encodeURIComponent(prefix)}${query}`;
    const value = (name: string): JsonValue => ({ test: t.test, runId: t.runId, name });

    for (const [i, key] of keys.entries()) {
      await t.step(
        `create ${names[i]}`,
        { method: 'POST', path: '/v1/', body: { key, value: value(names[i] as string) } },
        { status: 201, shape: 'entry', body: { key, version: 1 } },
      );
    }
    const first = await t.step(
      'list the first page of two, with the count',
      { method: 'GET', path: list('&limit=2&count=true&values=true') },
      { status: 200, shape: 'listing', body: { 'items.*.key': [a, b], 'items.0.value': value('a'), more: true, count: 5, prefixes: [] } },
    );
    const body = first.body as { revision: number; cursor: string };
    await t.step(
      'overwrite a key the listing has not reached',
      { method: 'PUT', path: `/v1/${encodeURIComponent(d)}`, body: { value: value('d, overwritten') } },
      { status: 200, shape: 'entry', body: { key: d, version: 2 } },
    );
    const added = t.keyUnder('bb');
    await t.step(
      'add a key inside the part still to come',
      { method: 'POST', path: '/v1/', body: { key: added, value: value('bb') } },
      { status: 201, shape: 'entry', body: { key: added, version: 1 } },
    );
    const secondRequest = { method: 'GET', path: list(`&limit=2&count=true&values=true&cursor=${encodeURIComponent(body.cursor)}`) };
    const second = await t.step('the second page is still at the first revision', secondRequest, {
      status: 200,
      shape: 'listing',
      body: { revision: body.revision, 'items.*.key': [c1, c2], more: true, count: 5 },
    });
    const cursor = (second.body as { cursor: string }).cursor;
    await t.step(
      'the last page shows the key as it was at that revision',
      { method: 'GET', path: list(`&limit=2&count=true&values=true&cursor=${encodeURIComponent(cursor)}`) },
      {
        status: 200,
        shape: 'listing',
        body: { revision: body.revision, 'items.*.key': [d], 'items.0.version': 1, 'items.0.value': value('d'), more: false, cursor: null },
      },
    );
    await t.step('a cursor sent again gives the same page', secondRequest, {
      status: 200,
      shape: 'listing',
      body: { revision: body.revision, 'items.*.key': [c1, c2], cursor },
    });
    await t.step(
      'a delimiter rolls the keys under c/ up into one prefix; the new listing sees the writes',
      { method: 'GET', path: list('&delimiter=%2F') },
      {
        status: 200,
        shape: 'listing',
        body: { 'items.*.key': [a, b, added, d], 'items.3.version': 2, prefixes: [`${prefix}c/`], more: false },
      },
    );
    await t.step(
      'a cursor with other parameters than its first page is refused',
      { method: 'GET', path: list(`&limit=3&cursor=${encodeURIComponent(body.cursor)}`) },
      { status: 400, shape: 'error', body: { 'error.code': 'invalid_query' } },
    );
    await t.step(
      'a limit past 1000 is refused, never clamped',
      { method: 'GET', path: list('&limit=1001') },
      { status: 400, shape: 'error', body: { 'error.code': 'invalid_query' } },
    );
  },
};
