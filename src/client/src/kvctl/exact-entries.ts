import { arrayElements, isJsonObject, topLevelMembers } from '@kv/shared';
import { type KvClient, refusal } from '../kv-client.js';
import { KvUnreachableError } from '../kv-unreachable-error.js';
import { listQuery } from '../listing.js';
import { parseJsonBody } from '../raw-exchange.js';
import { UsageError } from './exit-codes.js';

/*
 * Entries with their values' exact JSON text, for export and import. kv_store keeps a value as
 * the text it was written as (12345678901234567890 and 1.50 stay so); JSON.parse, and with it
 * the typed client, would make them 12345678901234567000 and 1.5. So export reads the listing
 * through the raw request path and cuts each value's text out of the page (the raw-span
 * scanner kv_store itself uses), and import sends each value's text as it is in its line.
 */

/** One entry as export writes it and import reads it: `value` is JSON text. */
export interface ExactEntry {
  readonly key: string;
  readonly value: string;
  /** ISO 8601, or null when it never expires. */
  readonly expiresAt: string | null;
}

/** The largest page the store serves. */
const PAGE = 1000;

/**
 * Every entry under `prefix`, in order, page by page, all at the first page's revision (the
 * listing is one snapshot); `onRevision` hears that revision once the first page is in.
 */
export async function* exactEntries(
  client: KvClient,
  prefix: string | undefined,
  onRevision: (r: number) => void,
): AsyncGenerator<ExactEntry> {
  const options = { prefix, values: true, limit: PAGE };
  let cursor: string | undefined;
  let revision: number | undefined;
  do {
    const response = await client.request({ method: 'GET', path: `/v1/?${listQuery(options, cursor)}` });
    if (response.status !== 200) throw refusal(response, 'GET');
    const page = parseJsonBody(response, 'GET');
    const invalid = (what: string) =>
      new KvUnreachableError('invalid_response', response.url, `kv_store at ${response.url} answered GET with ${what}`);
    if (!isJsonObject(page) || typeof page.revision !== 'number' || !Array.isArray(page.items)) {
      throw invalid('a listing page without revision and items');
    }
    if (revision === undefined) onRevision(page.revision);
    else if (page.revision !== revision) throw invalid(`a page at revision ${page.revision}, not the listing's ${revision}`);
    revision = page.revision;
    const text = response.text;
    const items = topLevelMembers(text).find((m) => m.name === 'items');
    const spans = items === undefined ? [] : arrayElements(text, items.start);
    for (const [i, span] of spans.entries()) {
      const item = page.items[i];
      const value = topLevelMembers(text, span.start).find((m) => m.name === 'value');
      if (!isJsonObject(item) || typeof item.key !== 'string' || value === undefined) throw invalid('an item without a key or value');
      const expiresAt = typeof item.expiresAt === 'string' ? item.expiresAt : null;
      yield { key: item.key, value: text.slice(value.start, value.end), expiresAt };
    }
    cursor = typeof page.cursor === 'string' ? page.cursor : undefined;
  } while (cursor !== undefined);
}

/**
 * An entry as one NDJSON line: `{"key": ..., "value": <its exact text>, "expiresAt": ...}`. A
 * line break can only be whitespace between a value's tokens (JSON strings cannot hold one raw);
 * it becomes a space, as a line must not hold one. Everything else is kept byte for byte.
 */
export function entryLine(entry: ExactEntry): string {
  const value = entry.value.replace(/[\r\n]/g, ' ');
  return `{"key":${JSON.stringify(entry.key)},"value":${value},"expiresAt":${JSON.stringify(entry.expiresAt)}}`;
}

/** The fields an entry line may carry: export's, and the rest of an entry as `get` or `ls` prints it (ignored). */
const LINE_FIELDS = new Set(['key', 'value', 'expiresAt', 'version', 'revision', 'createdAt', 'updatedAt', 'size']);

/** The entries of NDJSON text, each value's text kept exactly; a line that is not an entry is a UsageError naming it. */
export function parseEntryLines(text: string, source: string): ExactEntry[] {
  const entries: ExactEntry[] = [];
  const seen = new Map<string, number>();
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const where = `${source}, line ${i + 1}`;
    const fail = (why: string) => new UsageError(`${where}: ${why}`, 'import');
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (err) {
      throw fail(`not JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    if (!isJsonObject(parsed)) throw fail('not an entry: {"key": ..., "value": ..., "expiresAt": ...}');
    const unknown = Object.keys(parsed).find((name) => !LINE_FIELDS.has(name));
    if (unknown !== undefined) throw fail(`unknown field '${unknown}'; an entry has key, value and expiresAt`);
    const { key, expiresAt } = parsed;
    if (typeof key !== 'string') throw fail("'key' must be a string");
    const members = topLevelMembers(line);
    const twice = members.find((m, j) => members.findIndex((n) => n.name === m.name) !== j);
    if (twice !== undefined) throw fail(`field '${twice.name}' appears more than once`);
    const value = members.find((m) => m.name === 'value');
    if (value === undefined) throw fail("'value' is missing");
    if (expiresAt !== undefined && expiresAt !== null && (typeof expiresAt !== 'string' || Number.isNaN(Date.parse(expiresAt)))) {
      throw fail("'expiresAt' must be null or a time such as 2030-01-01T00:00:00.000Z");
    }
    const first = seen.get(key);
    if (first !== undefined) throw fail(`key '${key}' again (line ${first}); each key once`);
    seen.set(key, i + 1);
    entries.push({ key, value: line.slice(value.start, value.end), expiresAt: expiresAt ?? null });
  }
  return entries;
}
