import type { ListedItem, ListPage } from '../../listing.js';
import type { Command, CommandContext } from '../command.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { columns } from '../output.js';
import { wholeNumberOption } from './arguments.js';

/** The largest page the store serves; `ls` asks for it, so a listing takes few round trips. */
const MAX_PAGE = 1000;

/** A row of a listing: a key, or a prefix the delimiter rolled keys up into. */
type Row = { readonly item: ListedItem } | { readonly prefix: string };

export const ls: Command = {
  name: 'ls',
  synopsis: '[PREFIX]',
  summary: 'list keys (under PREFIX) with version, revision and expiry; values with --values',
  description:
    'Lists the keys that start with PREFIX (every key without it), in order (bytewise, as UTF-8), following the listing\'s pages to the end: every page is the store at one revision, whatever is written meanwhile. Prints a table of key, version, revision and expiry, and with --values each value as JSON. --delimiter rolls the keys that contain it after PREFIX up into one row each, marked (prefix), as folders. --limit stops after N rows. --consistent starts the listing at the store\'s latest revision: with KV_BACKEND=etcd a node otherwise starts it at its cache\'s, which may lag writes made through other nodes by a moment. With -o json it prints one JSON document, {"revision", "items", "prefixes", "more"}: the items as kv_store lists them, and the listing\'s revision, from which \'kvctl watch --after\' follows every later change.',
  options: {
    values: { type: 'boolean', description: "include each key's value" },
    delimiter: { type: 'string', value: 'D', description: 'roll keys that contain D after the prefix up into one row (e.g. /)' },
    limit: { type: 'string', value: 'N', description: 'at most N rows (keys and rolled-up prefixes); default: all' },
    consistent: { type: 'boolean', description: "list at the store's latest revision: every write acknowledged through any node" },
  },
  args: { min: 0, max: 1 },
  examples: ['kvctl ls users/', 'kvctl ls users/ --values --limit 10', 'kvctl ls --delimiter /', 'kvctl ls users/ -o json'],
  async run(context) {
    const prefix = context.args[0];
    const values = context.options.values === true;
    const delimiter = delimiterOption(context);
    const limit = wholeNumberOption(context, 'ls', 'limit', 1);
    const consistent = context.options.consistent === true;
    const { revision, rows, more } = await readListing(context, { prefix, values, delimiter, limit, consistent });
    const { out } = context;
    if (out.format === 'json') {
      const items = rows.flatMap((r) => ('item' in r ? [r.item] : []));
      const prefixes = rows.flatMap((r) => ('prefix' in r ? [r.prefix] : []));
      out.result(() => '', { revision, items, prefixes, more });
    } else if (rows.length === 0) {
      out.note(prefix === undefined ? 'no keys' : `no keys under '${prefix}'`);
    } else {
      out.print(table(rows, values));
    }
    if (more) out.note(`more follow: these are the first ${rows.length} (--limit ${limit})`);
    return EXIT.ok;
  },
};

interface Query {
  readonly prefix: string | undefined;
  readonly values: boolean;
  readonly delimiter: string | undefined;
  readonly limit: number | undefined;
  readonly consistent: boolean;
}

/** Pages through the listing (each page through the typed client, at the first page's revision) until its end or `limit` rows. */
async function readListing({ client }: CommandContext, query: Query): Promise<{ revision: number; rows: Row[]; more: boolean }> {
  const { prefix, values, delimiter, limit, consistent } = query;
  const options = {
    prefix,
    values: values || undefined,
    delimiter,
    limit: Math.min(limit ?? MAX_PAGE, MAX_PAGE),
    consistent: consistent || undefined,
  };
  const rows: Row[] = [];
  let revision: number | undefined;
  let cursor: string | undefined;
  do {
    const page: ListPage = await client.listPage(options, cursor);
    revision ??= page.revision;
    rows.push(...inOrder(page));
    cursor = page.cursor ?? undefined;
    if (limit !== undefined && rows.length >= limit) {
      const more = rows.length > limit || cursor !== undefined;
      return { revision, rows: rows.slice(0, limit), more };
    }
  } while (cursor !== undefined);
  return { revision: revision ?? 0, rows, more: false };
}

/** A page's keys and rolled-up prefixes, merged in the listing's order (bytewise on UTF-8). */
function inOrder(page: ListPage): Row[] {
  const rows: Row[] = [...page.items.map((item) => ({ item })), ...page.prefixes.map((prefix) => ({ prefix }))];
  const name = (row: Row) => Buffer.from('item' in row ? row.item.key : row.prefix);
  return rows.sort((a, b) => Buffer.compare(name(a), name(b)));
}

function table(rows: readonly Row[], values: boolean): string {
  const head = ['KEY', 'VERSION', 'REVISION', 'EXPIRES', ...(values ? ['VALUE'] : [])];
  const body = rows.map((row) => {
    if ('prefix' in row) return [row.prefix, '(prefix)'];
    const { key, version, revision, expiresAt, value } = row.item;
    const cells = [key, String(version), String(revision), expiresAt ?? 'never'];
    return values ? [...cells, JSON.stringify(value)] : cells;
  });
  return columns([head, ...body]);
}

function delimiterOption(context: CommandContext): string | undefined {
  const delimiter = context.options.delimiter;
  if (typeof delimiter !== 'string') return undefined;
  if (delimiter === '') throw new UsageError('--delimiter must not be empty', 'ls');
  return delimiter;
}
