import { isUtf8 } from 'node:buffer';
import { NEVER } from '../store/store.js';
import { HttpError } from './errors.js';
import { topLevelMembers } from './json-members.js';
import { validateKey } from './keys.js';
import { ownString } from './own-string.js';

/** A parsed POST or PUT body. `value` is the value's JSON text exactly as it arrived. */
export interface WriteBody {
  readonly key: string;
  readonly value: string;
  /** Milliseconds to live, from the body's `ttl` in seconds; NEVER without one. */
  readonly ttlMs: number;
}

/** Longest TTL accepted, in seconds (about 31.7 years), so expiry times stay valid dates. */
export const MAX_TTL_SECONDS = 1_000_000_000;
/** Shortest TTL accepted: one millisecond, the clock's resolution; less would create a key already expired. */
export const MIN_TTL_SECONDS = 0.001;

export interface WriteBodyLimits {
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
}

const CREATE_FIELDS = ['key', 'value', 'ttl'] as const;
const REPLACE_FIELDS = ['value', 'ttl', 'key'] as const;

/**
 * Parses and checks a write body: valid UTF-8 and JSON (400 invalid_json), an object with
 * exactly the fields the operation knows (400 invalid_body), a valid key (400 invalid_key) and a
 * value within the limit (413 value_too_large). For a PUT, `pathKey` is the key in the path.
 */
export function parseWriteBody(body: Buffer, limits: WriteBodyLimits, pathKey?: string): WriteBody {
  if (!isUtf8(body)) throw new HttpError('invalid_json', 'request body is not valid UTF-8');
  const text = body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new HttpError(
      'invalid_json',
      text.trim() === '' ? 'request body is empty; it must be a JSON object' : `request body is not valid JSON: ${detail}`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(
      'invalid_body',
      `request body must be a JSON object with a 'value' field${pathKey === undefined ? " and a 'key' field" : ''}`,
    );
  }
  const allowed: readonly string[] = pathKey === undefined ? CREATE_FIELDS : REPLACE_FIELDS;
  const fields = parsed as Record<string, unknown>;
  // The fields seen so far, a bit each (by place in `allowed`): any other field is refused at once.
  let seen = 0;
  let valueStart = -1;
  let valueEnd = -1;
  for (const member of topLevelMembers(text)) {
    const field = allowed.indexOf(member.name);
    if (field === -1) {
      throw new HttpError('invalid_body', `unknown field '${member.name}'; the fields are ${allowed.map((f) => `'${f}'`).join(', ')}`);
    }
    if ((seen & (1 << field)) !== 0) throw new HttpError('invalid_body', `field '${member.name}' appears more than once`);
    seen |= 1 << field;
    if (member.name === 'value') {
      valueStart = member.start;
      valueEnd = member.end;
    }
  }

  const key = fields.key;
  if (pathKey === undefined) {
    if (key === undefined) throw new HttpError('invalid_body', "field 'key' is required");
    if (typeof key !== 'string') throw new HttpError('invalid_body', "field 'key' must be a string");
    validateKey(key, limits.maxKeyBytes);
  } else if (key !== undefined && key !== pathKey) {
    throw new HttpError('invalid_body', "field 'key' must match the key in the path (or be left out)");
  }

  if (valueStart === -1) throw new HttpError('invalid_body', "field 'value' is required");
  // An ASCII body, as most are, has a byte for each UTF-16 unit: its value is copied out of the
  // body's bytes, a string of its own. Otherwise it is cut from the text and copied (ownString):
  // a slice could keep the whole body alive.
  const ascii = text.length === body.length;
  const valueText = ascii ? '' : text.slice(valueStart, valueEnd);
  // Each UTF-16 unit is at most 3 bytes, so short values skip the byte count.
  if ((valueEnd - valueStart) * 3 > limits.maxValueBytes) {
    const bytes = ascii ? valueEnd - valueStart : Buffer.byteLength(valueText, 'utf8');
    if (bytes > limits.maxValueBytes) {
      throw new HttpError(
        'value_too_large',
        `value is ${bytes} bytes of JSON; the limit is ${limits.maxValueBytes} bytes (KV_MAX_VALUE_BYTES)`,
      );
    }
  }

  const ttl = fields.ttl;
  if (ttl !== undefined && (typeof ttl !== 'number' || !(ttl >= MIN_TTL_SECONDS) || ttl > MAX_TTL_SECONDS)) {
    throw new HttpError('invalid_body', `field 'ttl' must be a number of seconds from ${MIN_TTL_SECONDS} to ${MAX_TTL_SECONDS}`);
  }
  const value = ascii ? body.toString('latin1', valueStart, valueEnd) : ownString(valueText);
  return { key: pathKey ?? (key as string), value, ttlMs: ttl === undefined ? NEVER : ttl * 1000 };
}
