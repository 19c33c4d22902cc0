import { describe, expect, it } from 'vitest';
import { etag, noneMatchHits, parseIfMatch } from '../src/http/conditional.js';

describe('etag', () => {
  it('is the revision in quotes', () => {
    expect(etag(17)).toBe('"17"');
  });
});

describe('parseIfMatch', () => {
  it('is undefined without the header', () => {
    expect(parseIfMatch(undefined)).toBeUndefined();
  });

  it("reads '*' as any revision", () => {
    expect(parseIfMatch('*')).toBe('*');
    expect(parseIfMatch(' * ')).toBe('*');
  });

  it('reads a list of strong ETags as revisions', () => {
    expect(parseIfMatch('"3"')).toEqual([3]);
    expect(parseIfMatch('"1", "22" ,"333"')).toEqual([1, 22, 333]);
  });

  it('drops weak and foreign tags, so a header of only those matches nothing', () => {
    expect(parseIfMatch('W/"3"')).toEqual([]);
    expect(parseIfMatch('"abc", 3, ""')).toEqual([]);
    expect(parseIfMatch('W/"3", "4"')).toEqual([4]);
  });
});

describe('noneMatchHits', () => {
  it('misses without the header', () => {
    expect(noneMatchHits(undefined, 3)).toBe(false);
  });

  it("hits on '*' and on the current ETag, strong or weak, anywhere in a list", () => {
    expect(noneMatchHits('*', 3)).toBe(true);
    expect(noneMatchHits('"3"', 3)).toBe(true);
    expect(noneMatchHits('W/"3"', 3)).toBe(true);
    expect(noneMatchHits('"1", "3"', 3)).toBe(true);
  });

  it('misses on other ETags', () => {
    expect(noneMatchHits('"2"', 3)).toBe(false);
    expect(noneMatchHits('"33"', 3)).toBe(false);
    expect(noneMatchHits('3', 3)).toBe(false);
  });
});
