import { type KvStore, type ListItem, type ListPage, type ListPosition, NEVER, whenReady } from '../../store/store.js';
import { jsonAnswer, jsonString } from '../answers.js';
import type { Answer } from '../door.js';
import { isoTime } from '../iso-time.js';
import { decodeCursor, encodeCursor, fingerprint, type ListParameters } from '../list-cursor.js';
import { invalidQuery, type QueryParams } from '../query.js';

/** The parameters of a listing (`watch=false` is a listing too). */
const LIST_PARAMETERS = ['prefix', 'start', 'end', 'limit', 'cursor', 'values', 'delimiter', 'reverse', 'count', 'watch'];
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
  return whenReady(store.list({ ...query, from }), (page) => {
    const total = from === undefined ? page.count : count;
    const next = page.next === undefined ? undefined : encodeCursor(page.next, print, total);
    return jsonAnswer(200, pageJson(page, next, query.count ? total : undefined));
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

function pageJson(page: ListPage, cursor: string | undefined, count: number | undefined): string {
  let items = '';
  for (const item of page.items) items += (items === '' ? '' : ',') + itemJson(item);
  const prefixes = page.prefixes.map(jsonString).join(',');
  const countText = count === undefined ? '' : `,"count":${count}`;
  const cursorText = cursor === undefined ? 'null' : `"${cursor}"`;
  return `{"revision":${page.revision},"items":[${items}],"prefixes":[${prefixes}],"more":${cursor !== undefined},"cursor":${cursorText}${countText}}`;
}

function itemJson(item: ListItem): string {
  const expiresAt = item.expiresAt === NEVER ? 'null' : `"${isoTime(item.expiresAt)}"`;
  const value = item.value === undefined ? '' : `,"value":${item.value}`;
  return `{"key":${jsonString(item.key)},"version":${item.version},"revision":${item.revision},"createdAt":"${isoTime(item.createdAt)}","updatedAt":"${isoTime(item.updatedAt)}","expiresAt":${expiresAt},"size":${item.size}${value}}`;
}
