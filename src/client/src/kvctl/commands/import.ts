import { KvError } from '../../kv-error.js';
import { TxnFailedError } from '../../txn.js';
import type { Command, CommandContext } from '../command.js';
import { type ExactEntry, parseEntryLines } from '../exact-entries.js';
import { EXIT } from '../exit-codes.js';
import { inputText } from './arguments.js';

/** Entries a transaction writes at most: under the store's default KV_MAX_TXN_OPS (128). */
const BATCH = 100;

/** What an import did, or one batch of it. */
interface Tally {
  imported: number;
  /** Of those, keys that existed and were overwritten (--overwrite). */
  overwritten: number;
  /** Entries already expired: skipped. */
  expired: number;
  /** Keys that existed and were left as they are (no --overwrite). */
  readonly existing: string[];
}

export const importCommand: Command = {
  name: 'import',
  synopsis: '[FILE]',
  summary: "create the entries of an NDJSON file (export's output); --overwrite to replace keys that exist",
  description:
    'Reads entries from FILE (standard input without FILE, or with -), one JSON line each, {"key", "value", "expiresAt"} as export writes them, and creates each key with its value\'s exact text and, when it expires, a TTL of the time left until expiresAt (so it expires when the original would have, later at most by the moment the write takes). An entry already expired is skipped and counted. Every line is checked before anything is written: a line that is not an entry, or a key given twice, exits 1 and writes nothing. A key that already exists is left as it is, named on standard error, and the import goes on; it then exits 3. With --overwrite such a key is replaced instead (value and TTL). Entries are written in transactions of up to 100 (fewer when the store refuses one as too large), so an import is not atomic as a whole: any other refusal (the store is full: 6) stops it there, saying how many were imported before.',
  options: {
    overwrite: { type: 'boolean', description: 'replace keys that exist (default: leave them and exit 3)' },
  },
  args: { min: 0, max: 1 },
  examples: ['kvctl import backup.ndjson', 'kvctl import --overwrite < backup.ndjson'],
  async run(context) {
    const file = context.args[0];
    const source = file === undefined || file === '-' ? 'standard input' : file;
    const entries = parseEntryLines(await inputText(context, 'import', file), source);
    const overwrite = context.options.overwrite === true;
    const tally: Tally = { imported: 0, overwritten: 0, expired: 0, existing: [] };
    // A process's first request also sets fetch up and connects (~0.1 s): done before any TTL is
    // counted, so that no TTL comes out late by it.
    if (entries.some((e) => e.expiresAt !== null)) await context.client.health();
    let size = BATCH;
    for (let i = 0; i < entries.length; ) {
      const batch = entries.slice(i, i + size);
      let done: Tally;
      try {
        done = await writeBatch(context, batch, overwrite);
      } catch (err) {
        // Too large for one transaction (413: ops, bytes; 507: memory): fewer at a time, down to one.
        if (size > 1 && err instanceof KvError && (err.status === 413 || err.status === 507)) {
          size = Math.ceil(size / 2);
          continue;
        }
        context.out.note(`${summary(tally)}; stopped at '${batch[0]?.key}', the rest was not written`);
        throw err;
      }
      for (const key of done.existing) {
        context.out.error(`key '${key}' already exists; left as it is (--overwrite replaces it)`, {
          code: 'key_exists',
          key,
          message: `key '${key}' already exists`,
        });
      }
      tally.imported += done.imported;
      tally.overwritten += done.overwritten;
      tally.expired += done.expired;
      tally.existing.push(...done.existing);
      i += batch.length;
    }
    context.out.result(() => summary(tally), tally);
    return tally.existing.length > 0 ? EXIT.conflict : EXIT.ok;
  },
};

/**
 * One batch as one transaction of creates (sets with --overwrite), each value's text as it was
 * read. Creates of keys that exist fail the transaction, which names every one of them: they
 * are left out and the rest sent again.
 */
async function writeBatch({ client }: CommandContext, batch: readonly ExactEntry[], overwrite: boolean): Promise<Tally> {
  const done: Tally = { imported: 0, overwritten: 0, expired: 0, existing: [] };
  let ops: Array<{ key: string; text: string }> = [];
  for (const entry of batch) {
    const text = opText(entry, overwrite);
    if (text === undefined) done.expired++;
    else ops.push({ key: entry.key, text });
  }
  while (ops.length > 0) {
    try {
      const { results } = await client.txnText(`{"ops":[${ops.map((op) => op.text).join(',')}]}`);
      done.imported += results.length;
      done.overwritten += results.filter((r) => r !== null && 'version' in r && r.version > 1).length;
      return done;
    } catch (err) {
      if (!(err instanceof TxnFailedError) || overwrite) throw err;
      const existing = new Set(err.failures.filter((f) => f.type === 'op').map((f) => f.index));
      if (existing.size === 0) throw err;
      done.existing.push(...ops.filter((_, i) => existing.has(i)).map((op) => op.key));
      ops = ops.filter((_, i) => !existing.has(i));
    }
  }
  return done;
}

/** The op that writes `entry`, with the time it has left as its TTL; undefined when it has expired. */
function opText(entry: ExactEntry, overwrite: boolean): string | undefined {
  let ttl = '';
  if (entry.expiresAt !== null) {
    const left = Date.parse(entry.expiresAt) - Date.now();
    if (left < 1) return undefined;
    // Half a millisecond more, so that ttl * 1000 lands inside the intended millisecond whatever its rounding.
    ttl = `,"ttl":${(left + 0.5) / 1000}`;
  }
  return `{"op":"${overwrite ? 'set' : 'create'}","key":${JSON.stringify(entry.key)},"value":${entry.value}${ttl}}`;
}

function summary({ imported, overwritten, expired, existing }: Tally): string {
  const parts = [`imported ${imported} ${imported === 1 ? 'entry' : 'entries'}${overwritten > 0 ? ` (${overwritten} overwritten)` : ''}`];
  if (expired > 0) parts.push(`skipped ${expired} already expired`);
  if (existing.length > 0) parts.push(`left ${existing.length} that existed`);
  return parts.join('; ');
}
