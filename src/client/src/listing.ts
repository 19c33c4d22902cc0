import type { JsonValue } from '@kv/shared';

/** What a listing asks for (GET /v1/): every parameter of the contract. */
export interface ListOptions {
  /** Only keys that start with it; the range is always inside it. */
  readonly prefix?: string | undefined;
  /** The first key of the range (inclusive), in UTF-8 byte order. */
  readonly start?: string | undefined;
  /** The key past the range (exclusive). */
  readonly end?: string | undefined;
  /** Items (and prefixes) a page, 1 to 1000; the store's default is 100. */
  readonly limit?: number | undefined;
  /** Include each item's value. */
  readonly values?: boolean | undefined;
  /** Roll keys that contain it after the prefix up into `prefixes`. */
  readonly delimiter?: string | undefined;
  readonly reverse?: boolean | undefined;
  /** Count the keys of the range (the first page's `count`). */
  readonly count?: boolean | undefined;
  /**
   * Start the listing at the store's latest revision, seeing every write acknowledged anywhere
   * before it (sent with the first page; later pages are at its revision anyway). It matters with
   * KV_BACKEND=etcd, whose nodes otherwise start a listing at their cache's revision.
   */
  readonly consistent?: boolean | undefined;
}

/** A key as a listing shows it. `value` only when the listing asked for values. */
export interface ListedItem {
  readonly key: string;
  readonly version: number;
  readonly revision: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly expiresAt: string | null;
  /** Bytes of the value's JSON text. */
  readonly size: number;
  readonly value?: JsonValue;
}

/** One page of a listing: the store as it was at `revision`. */
export interface ListPage {
  readonly revision: number;
  readonly items: readonly ListedItem[];
  readonly prefixes: readonly string[];
  readonly more: boolean;
  /** For the next page; null on the last. */
  readonly cursor: string | null;
  readonly count?: number;
}

/** The query string of a listing page (without `?`): every given option, percent-encoded. */
export function listQuery(options: ListOptions, cursor?: string): string {
  const parts: string[] = [];
  const add = (name: string, value: string | number | boolean | undefined) => {
    if (value !== undefined) parts.push(`${name}=${encodeURIComponent(String(value))}`);
  };
  add('prefix', options.prefix);
  add('start', options.start);
  add('end', options.end);
  add('limit', options.limit);
  add('values', options.values);
  add('delimiter', options.delimiter);
  add('reverse', options.reverse);
  add('count', options.count);
  if (cursor === undefined) add('consistent', options.consistent);
  add('cursor', cursor);
  return parts.join('&');
}

/**
 * A whole listing, page by page, as an async iterator of its items (following cursors). Every
 * page is at one revision, `revision`, known once the first page is in: watch with
 * after=<revision> to follow every change from there. `prefixes` collects the rolled-up
 * prefixes of the pages read so far. A cursor that expires mid-way is a KvError 410
 * cursor_expired (its details carry the last key).
 */
export class Listing implements AsyncIterable<ListedItem> {
  /** The listing's revision, once its first page has been read. */
  revision: number | undefined;
  /** The number of keys in the range, when the listing asked for the count. */
  count: number | undefined;
  readonly prefixes: string[] = [];

  constructor(private readonly fetchPage: (cursor: string | undefined) => Promise<ListPage>) {}

  async *[Symbol.asyncIterator](): AsyncIterator<ListedItem> {
    let cursor: string | undefined;
    do {
      const page = await this.fetchPage(cursor);
      this.revision ??= page.revision;
      this.count ??= page.count;
      this.prefixes.push(...page.prefixes);
      yield* page.items;
      cursor = page.cursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** Every item, in order (reads the whole listing). */
  async toArray(): Promise<ListedItem[]> {
    const items: ListedItem[] = [];
    for await (const item of this) items.push(item);
    return items;
  }
}
