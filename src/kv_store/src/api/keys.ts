import { HttpError } from './errors.js';

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Checks a key against the contract: 1 to maxKeyBytes bytes of UTF-8, no control characters,
 * not `.` or `..`. Throws 400 invalid_key saying which rule failed.
 */
export function validateKey(key: string, maxKeyBytes: number): string {
  if (key.length === 0) throw new HttpError('invalid_key', 'key must not be empty');
  if (!key.isWellFormed()) throw new HttpError('invalid_key', 'key must be valid UTF-8 (it contains a lone surrogate)');
  // A UTF-16 unit is at most 3 UTF-8 bytes, so short keys skip the byte count.
  if (key.length * 3 > maxKeyBytes) {
    const bytes = Buffer.byteLength(key, 'utf8');
    if (bytes > maxKeyBytes) {
      throw new HttpError('invalid_key', `key is ${bytes} bytes of UTF-8; the limit is ${maxKeyBytes} bytes (KV_MAX_KEY_BYTES)`);
    }
  }
  if (CONTROL.test(key)) throw new HttpError('invalid_key', 'key must not contain control characters (U+0000-U+001F, U+007F)');
  if (key === '.' || key === '..') throw new HttpError('invalid_key', `key must not be '${key}'`);
  return key;
}

/** Decodes the percent-encoded key of `/v1/<key>` (the part after `/v1/`) and validates it. */
export function keyFromPath(encoded: string, maxKeyBytes: number): string {
  // A key from the path may be a slice of the URL; the store never keeps it (PUT reuses the
  // stored key, POST takes its key from the body), so it is not copied here.
  if (encoded.indexOf('%') === -1) return validateKey(encoded, maxKeyBytes);
  let key: string;
  try {
    key = decodeURIComponent(encoded);
  } catch {
    throw new HttpError('invalid_key', 'key in the path has malformed percent-encoding or is not valid UTF-8');
  }
  return validateKey(key, maxKeyBytes);
}

/** The path of a key's resource, as sent in Location: every reserved character percent-encoded. */
export function keyPath(key: string): string {
  return `/v1/${encodeURIComponent(key)}`;
}
