import {
  type KvStore,
  type ListItem,
  type ListItemVisitor,
  type ListPage,
  type ListPosition,
  NEVER,
  whenReady,
} from '../../store/store.js';
import { jsonAnswer } from '../answers.js';
import type { Answer } from '../door.js';
import { fragment, JsonBytes } from '../json-bytes.js';
import { decodeCursor, encodeCursor, fingerprint, type ListParameters } from '../list-cursor.js';
import { invalidQuery, type QueryParams } from '../query.js';

/** The parameters of a listing (`watch=false` is a listing too). */
const LIST_PARAMETERS = ['prefix', 'start', 'end', 'limit', 'cursor', 'values', 'delimiter', 'reverse', 'count', 'consistent', 'watch'];
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

/**
 * `GET /v1/`: one page of the keys in order, every page of a listing at the revision of its
 * first. The body is `{"revision", "items", "prefixes", "more", "cursor", "count"?}`; `cursor`
 * (null on the last page) asks for the next page.
 */
export function listKeys(store: KvStore, params: QueryParams, maxKeyBytes: number): Answer | Promise<Answer> {
  params.only(LIST_PARAMETERS, 'a listing');
  const query = listParameters(params, maxKeyBytes);
  const print = fingerprint(query);
  const cursorText = params.string('cursor');
  let from: ListPosition | undefined;
  let count: number | undefined;
  if (cursorText !== undefined) {
    const cursor = decodeCursor(cursorText);
    if (cursor.fingerprint !== print) {
      throw invalidQuery(
        'the cursor belongs to a listing with other parameters: send prefix, start, end, limit, values, delimiter, reverse and count as on its first page',
      );
    }
    from = cursor.position;
    count = cursor.count;
  }
  // consistent=true: a first page at the store's latest revision (later pages are at the cursor's).
  const consistent = params.boolean('consistent', false);
  return whenReady(store.list({ ...query, from, consistent }, pageWriter.start(query.values)), (page) => {
    const total = from === undefined ? page.count : count;
    const next = page.next === undefined ? undefined : encodeCursor(page.next, print, total);
    const shown = query.count ? total : undefined;
    return jsonAnswer(200, page.visited === true ? pageTail(page, next, shown) : pageBody(page, next, shown));
  });
}

/** The listing a query asks for; a bad parameter is 400 invalid_query naming it. */
export function listParameters(params: QueryParams, maxKeyBytes: number): ListParameters {
  const delimiter = params.string('delimiter');
  if (delimiter === '') throw invalidQuery("parameter 'delimiter' must not be empty");
  return {
    prefix: keyBound(params, 'prefix', maxKeyBytes) ?? '',
    start: keyBound(params, 'start', maxKeyBytes),
    end: keyBound(params, 'end', maxKeyBytes),
    limit: params.integer('limit', DEFAULT_LIMIT, 1, MAX_LIMIT) as number,
    values: params.boolean('values', false),
    delimiter: delimiter === undefined ? undefined : bounded(delimiter, 'delimiter', maxKeyBytes),
    reverse: params.boolean('reverse', false),
    count: params.boolean('count', false),
  };
}

/** A prefix, start or end: at most a key's length; empty is the same as not given. */
export function keyBound(params: QueryParams, name: string, maxKeyBytes: number): string | undefined {
  const value = params.string(name);
  return value === undefined || value === '' ? undefined : bounded(value, name, maxKeyBytes);
}

function bounded(value: string, name: string, maxKeyBytes: number): string {
  if (value.length * 3 > maxKeyBytes && Buffer.byteLength(value) > maxKeyBytes) {
    throw invalidQuery(`parameter '${name}' is longer than a key may be (${maxKeyBytes} bytes, KV_MAX_KEY_BYTES)`);
  }
  return value;
}

/** Where every page's body is written (one at a time: a page is written in one go). */
const body = new JsonBytes();

const PAGE_START = fragment('{"revision":');
const ITEMS = fragment(',"items":[');
const COMMA = fragment(',');
const PREFIXES = fragment('],"prefixes":[');
const LAST_PAGE = fragment('],"more":false,"cursor":null');
const MORE = fragment('],"more":true,"cursor":"');
const CURSOR_END = fragment('"');
const COUNT = fragment(',"count":');
const END = fragment('}');
/*
 * An item is written as few fragments as it can be: each carries the punctuation on both sides of
 * a member, quotes included, so the key and the times go in bare (`{"key":"` key `","version":`
 * digits `,"revision":` digits `,"createdAt":"` time `","updatedAt":"` time `","expiresAt":null,"size":`
 * digits `}`).
 */
const FIRST_KEY = fragment('{"key":"');
const NEXT_KEY = fragment(',{"key":"');
const VERSION = fragment('","version":');
const REVISION = fragment(',"revision":');
const CREATED = fragment(',"createdAt":"');
const UPDATED = fragment('","updatedAt":"');
const NEVER_EXPIRES = fragment('","expiresAt":null,"size":');
const EXPIRES = fragment('","expiresAt":"');
const SIZE = fragment('","size":');
const VALUE = fragment(',"value":');

/** The page's JSON (the body of `listKeys`) as bytes, written item by item (see json-bytes.ts). */
export function pageBody(page: ListPage, cursor: string | undefined, count: number | undefined): Buffer {
  pageHead(page.revision);
  const items = page.items;
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as ListItem;
    body.put(i > 0 ? NEXT_KEY : FIRST_KEY);
    body.bareKey(item.key);
    itemNumbers(item.version, item.revision, item.createdAt, item.updatedAt, item.expiresAt, item.size);
    if (item.value !== undefined) {
      body.put(VALUE);
      body.text(item.value);
    }
    body.put(END);
  }
  return pageTail(page, cursor, count);
}

/**
 * The visitor a listing hands the store (ListItemVisitor): the memory engine gives it each item
 * as its record's bytes and numbers, and it writes them into the page's body at once, with no
 * object or string made for an item. The rest of the body is written by pageTail once the store
 * has returned the page (`visited`). One at a time, as the body: a listing of the memory engine
 * is written in one go.
 */
class PageWriter implements ListItemVisitor {
  private values = false;
  private written = 0;

  /** Readies the writer for a page, with or without the values. */
  start(values: boolean): this {
    this.values = values;
    this.written = 0;
    return this;
  }

  begin(revision: number): void {
    pageHead(revision);
  }

  item(
    bytes: Buffer,
    keyStart: number,
    keyBytes: number,
    valueStart: number,
    valueBytes: number,
    version: number,
    revision: number,
    createdAt: number,
    updatedAt: number,
    expiresAt: number,
  ): void {
    body.put(this.written++ > 0 ? NEXT_KEY : FIRST_KEY);
    body.bareKeyUtf8(bytes, keyStart, keyBytes);
    itemNumbers(version, revision, createdAt, updatedAt, expiresAt, valueBytes);
    if (this.values) {
      body.put(VALUE);
      body.utf8(bytes, valueStart, valueBytes);
    }
    body.put(END);
  }
}

const pageWriter = new PageWriter();

/**
 * `{"revision":N,"items":[`: the body up to its first item. What an earlier page left unfinished
 * (its listing failed after the store began it) is dropped first.
 */
function pageHead(revision: number): void {
  body.discard();
  body.put(PAGE_START);
  body.number(revision);
  body.put(ITEMS);
}

/** An item's numbers, from its version to its size (after its key, which it closes the quotes of). */
function itemNumbers(version: number, revision: number, createdAt: number, updatedAt: number, expiresAt: number, size: number): void {
  body.put(VERSION);
  body.number(version);
  body.put(REVISION);
  body.number(revision);
  body.put(CREATED);
  body.bareTime(createdAt);
  body.put(UPDATED);
  body.bareTime(updatedAt);
  if (expiresAt === NEVER) body.put(NEVER_EXPIRES);
  else {
    body.put(EXPIRES);
    body.bareTime(expiresAt);
    body.put(SIZE);
  }
  body.number(size);
}

/** The body after its items (the prefixes, the cursor, the count), and the whole body as bytes. */
function pageTail(page: ListPage, cursor: string | undefined, count: number | undefined): Buffer {
  body.put(PREFIXES);
  const prefixes = page.prefixes;
  for (let i = 0; i < prefixes.length; i++) {
    if (i > 0) body.put(COMMA);
    body.key(prefixes[i] as string);
  }
  if (cursor === undefined) body.put(LAST_PAGE);
  else {
    body.put(MORE);
    body.ascii(cursor); // base64url
    body.put(CURSOR_END);
  }
  if (count !== undefined) {
    body.put(COUNT);
    body.number(count);
  }
  body.put(END);
  return body.take();
}
