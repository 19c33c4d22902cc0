import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonString } from '../src/api/answers.js';
import { isoTime } from '../src/api/iso-time.js';
import { QueryParams } from '../src/api/query.js';
import { listKeys, pageBody } from '../src/api/routes/listing.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import { type ListItem, type ListPage, type ListQuery, NEVER } from '../src/store/store.js';
import { FakeClock } from './helpers.js';

/*
 * A listing's body is written as bytes (api/json-bytes.ts) where it was a string built by `+=`:
 * every body must be the very bytes the string encoded to. The model is that string builder, as
 * it was (listing.ts before the bytes): over pages made up here, and over the memory store's own
 * pages, whose keys are also checked against those written.
 */

function modelPage(page: ListPage, cursor: string | undefined, count: number | undefined): string {
  let items = '';
  for (const item of page.items) items += (items === '' ? '' : ',') + modelItem(item);
  const prefixes = page.prefixes.map(jsonString).join(',');
  const countText = count === undefined ? '' : `,"count":${count}`;
  const cursorText = cursor === undefined ? 'null' : `"${cursor}"`;
  return `{"revision":${page.revision},"items":[${items}],"prefixes":[${prefixes}],"more":${cursor !== undefined},"cursor":${cursorText}${countText}}`;
}

function modelItem(item: ListItem): string {
  const expiresAt = item.expiresAt === NEVER ? 'null' : `"${isoTime(item.expiresAt)}"`;
  const value = item.value === undefined ? '' : `,"value":${item.value}`;
  return `{"key":${jsonString(item.key)},"version":${item.version},"revision":${item.revision},"createdAt":"${isoTime(item.createdAt)}","updatedAt":"${isoTime(item.updatedAt)}","expiresAt":${expiresAt},"size":${item.size}${value}}`;
}

/** Any UTF-16 unit, lone surrogates too. */
const unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
/** What JSON escapes, and what is more than one byte of UTF-8. */
const special = fc.constantFrom('"', '\\', '\u0000', '\n', '\t', '\u001f', '\u007f', 'é', '€', '🔑', '\ud800', '\udfff', '/', 'a');

/** Keys and prefixes: any text, weighted towards what a JSON string must escape or UTF-8 spends bytes on. */
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ unit, maxLength: 12 }),
  fc.string({ unit: special, maxLength: 12 }),
  fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 40 }),
);

/** Whole numbers as the stores make them, with a few others to show the fallback writes them as `${n}` does. */
const integer = fc.oneof(fc.nat(), fc.maxSafeNat(), fc.constantFrom(0, 9, 10, 99, 100, 999_999, 1_000_000, Number.MAX_SAFE_INTEGER));
const number = fc.oneof({ weight: 8, arbitrary: integer }, fc.double(), fc.constantFrom(-0, -1, 2 ** 53, 1e21, 0.5));
/** A time from 1970 to 9999, sometimes between two milliseconds (an expiry of a fractional TTL). */
const time = fc.oneof(
  fc.integer({ min: 0, max: 253_402_300_799_999 }),
  fc.double({ min: 0, max: 253_402_300_799_999, noNaN: true }),
  fc.constant(1_780_000_000_000),
);
/** A value's JSON text: any JSON, and strings of the units above. */
const value = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  text.map((t) => JSON.stringify(t)),
);

const item: fc.Arbitrary<ListItem> = fc.record({
  key: text,
  version: number,
  revision: number,
  createdAt: time,
  updatedAt: time,
  expiresAt: fc.oneof(fc.constant(NEVER), time),
  size: number,
  value: fc.option(value, { nil: undefined }),
});

const page: fc.Arbitrary<ListPage> = fc.record({
  revision: number,
  items: fc.array(item, { maxLength: 30 }),
  prefixes: fc.array(text, { maxLength: 5 }),
  next: fc.constant(undefined),
  count: fc.constant(undefined),
});

/** Keys a store may hold: no lone surrogates; quotes, backslashes, '/', non-ASCII and emoji often. */
const storeKey = fc.oneof(
  fc.string({ unit: fc.constantFrom('"', '\\', '/', 'a', 'b', 'é', '€', '🔑', '\u0001'), minLength: 1, maxLength: 6 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }),
);
const storeEntries = fc.uniqueArray(fc.tuple(storeKey, value, fc.option(fc.integer({ min: 1, max: 10_000_000 }), { nil: undefined })), {
  selector: ([key]) => key,
  maxLength: 25,
});
const storeListing = fc.record({
  prefix: fc.constantFrom('', 'a', '"', '\\', 'é', '🔑'),
  start: fc.option(storeKey, { nil: undefined }),
  limit: fc.integer({ min: 1, max: 8 }),
  values: fc.boolean(),
  reverse: fc.boolean(),
  delimiter: fc.option(fc.constantFrom('/', '"', 'é'), { nil: undefined }),
  count: fc.boolean(),
});

const cursor = fc.option(
  fc.base64String().map((t) => Buffer.from(t, 'base64').toString('base64url')),
  { nil: undefined },
);

describe('the body of a listing page', () => {
  it('is byte for byte the UTF-8 of the string the page was built as, for any keys, numbers, times, values, prefixes and cursor', () => {
    fc.assert(
      fc.property(page, cursor, fc.option(number, { nil: undefined }), (p, c, count) => {
        // latin1: one character a byte, so the comparison is of bytes and a failure shows where they differ.
        expect(pageBody(p, c, count).toString('latin1')).toBe(Buffer.from(modelPage(p, c, count), 'utf8').toString('latin1'));
      }),
      { numRuns: 3000 },
    );
  });

  it('escapes a key or prefix with a quote or backslash as JSON.stringify, and one without as it is', () => {
    const item = { version: 1, revision: 2, createdAt: 0, updatedAt: 0, expiresAt: NEVER, size: 1, value: undefined };
    const body = pageBody(
      {
        revision: 2,
        items: [
          { ...item, key: 'a"\\é\n🔑' },
          { ...item, key: 'é\n🔑' },
        ],
        prefixes: ['p"/'],
        next: undefined,
        count: undefined,
      },
      undefined,
      undefined,
    );
    expect(body.toString('utf8')).toBe(
      '{"revision":2,"items":[' +
        '{"key":"a\\"\\\\é\\n🔑","version":1,"revision":2,"createdAt":"1970-01-01T00:00:00.000Z","updatedAt":"1970-01-01T00:00:00.000Z","expiresAt":null,"size":1},' +
        '{"key":"é\n🔑","version":1,"revision":2,"createdAt":"1970-01-01T00:00:00.000Z","updatedAt":"1970-01-01T00:00:00.000Z","expiresAt":null,"size":1}' +
        '],"prefixes":["p\\"/"],"more":false,"cursor":null}',
    );
  });

  it('is as long as a page of large values needs, and the next body is whole too', () => {
    const big = JSON.stringify('x'.repeat(3 << 20));
    const item = { key: 'k', version: 1, revision: 1, createdAt: 0, updatedAt: 0, expiresAt: NEVER, size: big.length, value: big };
    const large: ListPage = { revision: 1, items: [item, item], prefixes: [], next: undefined, count: undefined };
    expect(pageBody(large, undefined, 2).equals(Buffer.from(modelPage(large, undefined, 2)))).toBe(true);
    const small: ListPage = { ...large, items: [{ ...item, value: '1', size: 1 }] };
    expect(pageBody(small, 'abc', undefined).toString()).toBe(modelPage(small, 'abc', undefined));
  });

  it("of the memory store's pages, is the model's, listing the keys written, for any keys, values, TTLs, ranges and pages", () => {
    fc.assert(
      fc.property(storeEntries, storeListing, (written, q) => {
        const store = new MemoryStore({ clock: new FakeClock() });
        for (const [key, text, ttl] of written) store.create(key, text, { ttlMs: ttl });
        const query: ListQuery = { ...q };
        let from: ListQuery['from'];
        const listed: string[] = [];
        for (let pages = 0; pages < 30; pages++) {
          const page = store.list({ ...query, from }) as ListPage;
          const cursor = page.next === undefined ? undefined : `c${pages}`;
          const body = pageBody(page, cursor, page.count);
          expect(body.toString('latin1')).toBe(Buffer.from(modelPage(page, cursor, page.count), 'utf8').toString('latin1'));
          // A key with a control character is written as jsonString writes it (as it is), which JSON.parse refuses.
          if (!body.some((byte) => byte < 0x20)) {
            listed.push(...(JSON.parse(body.toString('utf8')) as { items: { key: string }[] }).items.map((item) => item.key));
          }
          if (page.next === undefined) break;
          from = page.next;
        }
        if (
          query.delimiter === undefined &&
          query.start === undefined &&
          !written.some(([key]) => Buffer.from(key).some((byte) => byte < 0x20))
        ) {
          const inOrder = written
            .map(([key]) => key)
            .filter((key) => key.startsWith(query.prefix))
            .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
          expect(listed).toEqual(query.reverse ? inOrder.reverse() : inOrder);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("of the memory store's pages as listKeys writes them, its items handed over as their records' bytes, is the model's of the same pages", () => {
    fc.assert(
      fc.property(storeEntries, storeListing, (written, q) => {
        const store = new MemoryStore({ clock: new FakeClock() });
        for (const [key, text, ttl] of written) store.create(key, text, { ttlMs: ttl });
        const parameters = Object.entries(q)
          .filter(([, v]) => v !== undefined)
          .map(([name, v]) => `${name}=${encodeURIComponent(String(v))}`)
          .join('&');
        let cursorText: string | undefined;
        let from: ListQuery['from'];
        let count: number | undefined;
        for (let pages = 0; pages < 30; pages++) {
          const cursorParameter = cursorText === undefined ? '' : `&cursor=${cursorText}`;
          const answer = listKeys(store, QueryParams.parse(parameters + cursorParameter), 1024) as { status: number; body: Buffer };
          expect(answer.status).toBe(200);
          const body = answer.body.toString('latin1');
          // The same page as items (no visitor): the store has not changed, and a later page reads its pinned revision.
          const page = store.list({ ...q, from }) as ListPage;
          if (from === undefined) count = page.count;
          cursorText = /"cursor":"([^"]*)"/.exec(body)?.[1];
          expect(cursorText === undefined).toBe(page.next === undefined);
          expect(body).toBe(Buffer.from(modelPage(page, cursorText, q.count ? count : undefined), 'utf8').toString('latin1'));
          if (page.next === undefined) break;
          from = page.next;
        }
        expect(cursorText).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });

  it('a page begun by the store and not finished is dropped, and the next body is whole', () => {
    const store = new MemoryStore({ clock: new FakeClock() });
    store.create('a', '1');
    store.create('b', '2');
    const failing = Object.create(store) as MemoryStore;
    failing.list = (query, visitor) => {
      store.list(query, visitor);
      throw new Error('failed after the items');
    };
    expect(() => listKeys(failing, QueryParams.parse('limit=1'), 1024)).toThrow('failed after the items');
    const answer = listKeys(store, QueryParams.parse('values=true'), 1024) as { body: Buffer };
    expect(JSON.parse(answer.body.toString('utf8'))).toMatchObject({
      revision: 2,
      items: [
        { key: 'a', value: 1 },
        { key: 'b', value: 2 },
      ],
      more: false,
    });
  });
});
