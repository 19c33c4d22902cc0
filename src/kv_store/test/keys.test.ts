import { describe, expect, it } from 'vitest';
import { HttpError } from '../src/api/errors.js';
import { keyFromPath, keyPath, validateKey } from '../src/api/keys.js';

function invalidKey(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).code).toBe('invalid_key');
    expect((err as HttpError).status).toBe(400);
    return (err as HttpError).message;
  }
  throw new Error('expected invalid_key');
}

describe('validateKey', () => {
  it('accepts ordinary keys, slashes, spaces and non-ASCII text', () => {
    for (const key of ['foo', 'users/42', 'a b', 'ключ', '🔑', '...', '.hidden', 'a/../b', '%', '__proto__']) {
      expect(validateKey(key, 512)).toBe(key);
    }
  });

  it('refuses the empty key', () => {
    expect(invalidKey(() => validateKey('', 512))).toBe('key must not be empty');
  });

  it("refuses '.' and '..'", () => {
    expect(invalidKey(() => validateKey('.', 512))).toBe("key must not be '.'");
    expect(invalidKey(() => validateKey('..', 512))).toBe("key must not be '..'");
  });

  it('refuses control characters U+0000-U+001F and U+007F, and allows U+0080 on', () => {
    for (const c of ['\u0000', '\t', '\n', '\u001f', '\u007f']) {
      expect(invalidKey(() => validateKey(`a${c}b`, 512))).toBe('key must not contain control characters (U+0000-U+001F, U+007F)');
    }
    expect(validateKey('a\u0080b', 512)).toBe('a\u0080b');
  });

  it('refuses a lone surrogate (not UTF-8)', () => {
    expect(invalidKey(() => validateKey('a\ud800', 512))).toBe('key must be valid UTF-8 (it contains a lone surrogate)');
  });

  it('counts the limit in UTF-8 bytes, not characters', () => {
    expect(validateKey('abcdefgh', 8)).toBe('abcdefgh');
    expect(invalidKey(() => validateKey('abcdefghi', 8))).toBe('key is 9 bytes of UTF-8; the limit is 8 bytes (KV_MAX_KEY_BYTES)');
    expect(validateKey('éééé', 8)).toBe('éééé');
    expect(invalidKey(() => validateKey('ééééé', 8))).toBe('key is 10 bytes of UTF-8; the limit is 8 bytes (KV_MAX_KEY_BYTES)');
    expect(validateKey('🔑🔑', 8)).toBe('🔑🔑');
    expect(invalidKey(() => validateKey('🔑🔑a', 8))).toBe('key is 9 bytes of UTF-8; the limit is 8 bytes (KV_MAX_KEY_BYTES)');
  });
});

describe('keyFromPath', () => {
  const malformed = 'key in the path has malformed percent-encoding or is not valid UTF-8';

  it('percent-decodes the path, so users/42 and users%2F42 name the same key', () => {
    expect(keyFromPath('users/42', 512)).toBe('users/42');
    expect(keyFromPath('users%2F42', 512)).toBe('users/42');
    expect(keyFromPath('users%2f42', 512)).toBe('users/42');
    expect(keyFromPath('%D0%BA%D0%BB%D1%8E%D1%87', 512)).toBe('ключ');
    expect(keyFromPath('a%20b%3Fc%23d%25', 512)).toBe('a b?c#d%');
  });

  it('keeps + as a plus sign (paths are not form-encoded)', () => {
    expect(keyFromPath('a+b', 512)).toBe('a+b');
  });

  it('refuses malformed percent-encoding', () => {
    for (const encoded of ['%', '%2', 'a%zz', '%G0']) {
      expect(invalidKey(() => keyFromPath(encoded, 512))).toBe(malformed);
    }
  });

  it('refuses percent-encoded bytes that are not UTF-8: overlong forms, surrogates, stray bytes', () => {
    for (const encoded of ['%C0%AF', '%ED%A0%80', '%FF', '%80', '%E2%82']) {
      expect(invalidKey(() => keyFromPath(encoded, 512))).toBe(malformed);
    }
  });

  it('refuses decoded control characters and dot segments', () => {
    expect(invalidKey(() => keyFromPath('a%00b', 512))).toBe('key must not contain control characters (U+0000-U+001F, U+007F)');
    expect(invalidKey(() => keyFromPath('%2E', 512))).toBe("key must not be '.'");
    expect(invalidKey(() => keyFromPath('%2e%2E', 512))).toBe("key must not be '..'");
    expect(invalidKey(() => keyFromPath('..', 512))).toBe("key must not be '..'");
  });

  it('applies the byte limit after decoding', () => {
    expect(keyFromPath('%C3%A9%C3%A9%C3%A9%C3%A9', 8)).toBe('éééé');
    expect(invalidKey(() => keyFromPath('%C3%A9%C3%A9%C3%A9%C3%A9a', 8))).toBe(
      'key is 9 bytes of UTF-8; the limit is 8 bytes (KV_MAX_KEY_BYTES)',
    );
  });
});

describe('keyPath', () => {
  it('percent-encodes every reserved character of the key', () => {
    expect(keyPath('foo')).toBe('/v1/foo');
    expect(keyPath('users/42')).toBe('/v1/users%2F42');
    expect(keyPath('a b?c#d%')).toBe('/v1/a%20b%3Fc%23d%25');
    expect(keyPath('ключ')).toBe('/v1/%D0%BA%D0%BB%D1%8E%D1%87');
  });
});
