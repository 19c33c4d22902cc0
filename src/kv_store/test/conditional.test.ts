import { describe, expect, it } from 'vitest';
import { noneMatchHits, parseTagCondition } from '../src/api/conditional.js';
import { HttpError } from '../src/api/errors.js';
import { checkPreconditions } from '../src/store/store.js';
import { StoreError } from '../src/store/store-error.js';

const strong = (tag: string) => ({ tag, weak: false });
const weak = (tag: string) => ({ tag, weak: true });

/** The error a header is refused with, or undefined. */
function refusal(header: string): HttpError | undefined {
  try {
    parseTagCondition('If-Match', header);
  } catch (err) {
    return err as HttpError;
  }
  return undefined;
}

describe('parseTagCondition', () => {
  it('is undefined without the header', () => {
    expect(parseTagCondition('If-Match', undefined)).toBeUndefined();
  });

  it("reads '*' as any entry", () => {
    expect(parseTagCondition('If-Match', '*')).toBe('*');
    expect(parseTagCondition('If-Match', ' * ')).toBe('*');
  });

  it('reads a list of ETags, strong and weak, keeping their text', () => {
    expect(parseTagCondition('If-Match', '"3"')).toEqual([strong('3')]);
    expect(parseTagCondition('If-Match', '"1", "22" ,"333"')).toEqual([strong('1'), strong('22'), strong('333')]);
    expect(parseTagCondition('If-None-Match', 'W/"3", "x"')).toEqual([weak('3'), strong('x')]);
    expect(parseTagCondition('If-Match', '""')).toEqual([strong('')]);
  });

  it('reads an empty list (RFC 9110 #entity-tag) as matching nothing', () => {
    expect(parseTagCondition('If-Match', '')).toEqual([]);
    expect(parseTagCondition('If-Match', ' , ')).toEqual([]);
  });

  it('reads a bare revision number as that ETag (issue 16: If-Match: 35 is what the body invites)', () => {
    expect(parseTagCondition('If-Match', '35')).toEqual([strong('35')]);
    expect(parseTagCondition('If-Match', '35, "36"')).toEqual([strong('35'), strong('36')]);
  });

  it('refuses a header that is no list of ETags with 400 invalid_header, naming the header', () => {
    for (const header of ['abc', '"unterminated', 'W/3', '3x', 'W/"a" "b"']) {
      const err = refusal(header);
      expect(err, header).toBeInstanceOf(HttpError);
      expect({ status: err?.status, code: err?.code }).toEqual({ status: 400, code: 'invalid_header' });
      expect(err?.message).toMatch(/^If-Match /);
    }
  });
});

describe('noneMatchHits', () => {
  it('misses without the header', () => {
    expect(noneMatchHits(undefined, '3')).toBe(false);
  });

  it("hits on '*' and on the current tag, strong or weak, anywhere in a list", () => {
    expect(noneMatchHits('*', '3')).toBe(true);
    expect(noneMatchHits([strong('3')], '3')).toBe(true);
    expect(noneMatchHits([weak('3')], '3')).toBe(true);
    expect(noneMatchHits([strong('1'), strong('3')], '3')).toBe(true);
  });

  it('misses on other tags', () => {
    expect(noneMatchHits([strong('2')], '3')).toBe(false);
    expect(noneMatchHits([strong('33')], '3')).toBe(false);
  });
});

describe('checkPreconditions (every backend uses it)', () => {
  const failure = (conditions: Parameters<typeof checkPreconditions>[2]): string | undefined => {
    try {
      checkPreconditions('k', '3', conditions);
    } catch (err) {
      expect(err).toBeInstanceOf(StoreError);
      expect((err as StoreError).reason).toBe('version_mismatch');
      return (err as StoreError).message;
    }
    return undefined;
  };

  it('If-Match passes on * or the current tag (strong comparison) and names what it asked for otherwise', () => {
    expect(failure({ ifMatch: '*' })).toBeUndefined();
    expect(failure({ ifMatch: [strong('1'), strong('3')] })).toBeUndefined();
    expect(failure({ ifMatch: [strong('1')] })).toBe(`key 'k' is at revision 3 (ETag "3"), but If-Match asked for "1"`);
    expect(failure({ ifMatch: [weak('3')] })).toBe(
      `key 'k' is at revision 3 (ETag "3"), but If-Match asked for W/"3" (weak ETags never match If-Match)`,
    );
  });

  it('If-None-Match fails on * (the key exists) and on the current tag, weak or strong', () => {
    expect(failure({ ifNoneMatch: [strong('2')] })).toBeUndefined();
    expect(failure({ ifNoneMatch: '*' })).toBe(
      `key 'k' is at revision 3 (ETag "3"), which If-None-Match forbids (*: the key must not exist)`,
    );
    expect(failure({ ifNoneMatch: [weak('3')] })).toBe(`key 'k' is at revision 3 (ETag "3"), which If-None-Match excludes (W/"3")`);
  });
});
