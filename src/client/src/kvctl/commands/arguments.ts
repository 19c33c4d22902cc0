import { readFile } from 'node:fs/promises';
import type { Entry, JsonValue } from '@kv/shared';
import type { StoredEntry } from '../../entry.js';
import type { CommandContext, CommandOption } from '../command.js';
import { UsageError } from '../exit-codes.js';
import { readableJson, table } from '../output.js';

/** The options and argument readers the key commands share. */

export const TTL_OPTION: CommandOption = { type: 'string', value: 'SECONDS', description: 'expire the key after this many seconds' };
export const IF_MATCH_OPTION: CommandOption = {
  type: 'string',
  value: 'REVISION',
  description: "only if the key is still at this revision (its ETag; '*': only if it exists)",
};

/** VALUE_JSON: any JSON text; `-` reads it from standard input. */
export async function valueArgument(context: CommandContext, command: string, text: string): Promise<JsonValue> {
  const source = text === '-' ? await context.readStdin() : text;
  try {
    return JSON.parse(source) as JsonValue;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new UsageError(`VALUE_JSON is not JSON (${why}); a string needs its quotes, e.g. '"hello"'`, command);
  }
}

/** --ttl SECONDS: a positive number, or undefined when not given. */
export function ttlOption(context: CommandContext, command: string): number | undefined {
  const text = context.options.ttl;
  if (typeof text !== 'string') return undefined;
  const seconds = Number(text);
  if (text.trim() === '' || !Number.isFinite(seconds) || seconds <= 0) {
    throw new UsageError(`--ttl must be a number of seconds greater than 0, got '${text}'`, command);
  }
  return seconds;
}

/** --if-match REVISION: `17`, `"17"` or `*`, as the If-Match header says it; undefined when not given. */
export function ifMatchOption(context: CommandContext, command: string): string | undefined {
  const text = context.options['if-match'];
  if (typeof text !== 'string') return undefined;
  if (text === '*') return text;
  const m = /^"?(\d+)"?$/.exec(text);
  if (m === null) throw new UsageError(`--if-match must be a revision such as 17 (or '*'), got '${text}'`, command);
  return `"${m[1]}"`;
}

/** The entry as kv_store answers it (what the client adds, the ETag and a Location, left out). */
export function entryJson(entry: StoredEntry): Entry {
  const { key, value, version, revision, createdAt, updatedAt, expiresAt } = entry;
  return { key, value, version, revision, createdAt, updatedAt, expiresAt };
}

/** The entry for people: the value as JSON, then its version, revision and times. */
export function entryText(entry: Entry): string {
  return table([
    ['key', entry.key],
    ['value', readableJson(entry.value)],
    ['version', String(entry.version)],
    ['revision', String(entry.revision)],
    ['created', entry.createdAt],
    ['updated', entry.updatedAt],
    ['expires', entry.expiresAt ?? 'never'],
  ]);
}

/** --NAME N: a whole number of at least `min`, or undefined when not given. */
export function wholeNumberOption(context: CommandContext, command: string, name: string, min: number): number | undefined {
  const text = context.options[name];
  if (typeof text !== 'string') return undefined;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) < min) {
    throw new UsageError(`--${name} must be a whole number of at least ${min}, got '${text}'`, command);
  }
  return Number(text);
}

/** FILE: its text; standard input without FILE or when it is `-`. */
export async function inputText(context: CommandContext, command: string, file: string | undefined): Promise<string> {
  if (file === undefined || file === '-') return context.readStdin();
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : err instanceof Error ? err.message : String(err);
    throw new UsageError(`cannot read '${file}': ${why}`, command);
  }
}
