import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, fingerprint, type ListParameters } from '../src/api/list-cursor.js';

/*
 * A cursor's fingerprint binds it to its listing's parameters: the same parameters always give
 * the same one, and other parameters (any one of them changed) another.
 */

const key = fc.string({ unit: 'grapheme', maxLength: 12 });
const parameters: fc.Arbitrary<ListParameters> = fc.record({
  prefix: key,
  start: fc.option(key, { nil: undefined }),
  end: fc.option(key, { nil: undefined }),
  limit: fc.integer({ min: 1, max: 1000 }),
  values: fc.boolean(),
  delimiter: fc.option(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 3 }), { nil: undefined }),
  reverse: fc.boolean(),
  count: fc.boolean(),
});

/** The parameters as the fingerprint sees them (an absent bound and an absent delimiter are one thing each). */
const same = (a: ListParameters, b: ListParameters): boolean =>
  a.prefix === b.prefix &&
  a.start === b.start &&
  a.end === b.end &&
  a.limit === b.limit &&
  a.values === b.values &&
  a.delimiter === b.delimiter &&
  a.reverse === b.reverse &&
  a.count === b.count;

describe('list cursors', () => {
  it('give the same parameters the same fingerprint of 16 hex digits, and other parameters another', () => {
    fc.assert(
      fc.property(parameters, parameters, (a, b) => {
        const fa = fingerprint(a);
        expect(fa).toMatch(/^[0-9a-f]{16}$/);
        expect(fingerprint({ ...a })).toBe(fa);
        expect(fingerprint(b) === fa).toBe(same(a, b));
      }),
      { numRuns: 3000 },
    );
  });

  it('tell apart parameters that differ in one field only', () => {
    fc.assert(
      fc.property(parameters, fc.integer({ min: 1, max: 1000 }), key, (q, limit, start) => {
        const print = fingerprint(q);
        if (limit !== q.limit) expect(fingerprint({ ...q, limit })).not.toBe(print);
        if (start !== q.start) expect(fingerprint({ ...q, start })).not.toBe(print);
        expect(fingerprint({ ...q, values: !q.values })).not.toBe(print);
        expect(fingerprint({ ...q, reverse: !q.reverse })).not.toBe(print);
        expect(fingerprint({ ...q, count: !q.count })).not.toBe(print);
        expect(fingerprint({ ...q, prefix: `${q.prefix}a` })).not.toBe(print);
      }),
      { numRuns: 2000 },
    );
  });

  it('say back what they were made from', () => {
    fc.assert(
      fc.property(fc.nat(), key, parameters, fc.option(fc.nat(), { nil: undefined }), (revision, after, q, count) => {
        const print = fingerprint(q);
        expect(decodeCursor(encodeCursor({ revision, after }, print, count))).toEqual({
          position: { revision, after },
          fingerprint: print,
          count,
        });
      }),
      { numRuns: 500 },
    );
  });
});
