import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ISO_TIME_END, isoTime, writeIsoTime } from '../src/api/iso-time.js';

describe('isoTime', () => {
  it('formats any time from 1970 to 9999 exactly as Date.prototype.toISOString', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 253_402_300_799_999 }), (ms) => {
        expect(isoTime(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 5000 },
    );
  });

  it('drops a fraction of a millisecond as Date does (a TTL of 0.0015 s rendered expiresAt as "….undefinedZ")', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 253_402_300_799_998 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (ms, fraction) => {
          expect(isoTime(ms + fraction)).toBe(new Date(ms + fraction).toISOString());
        },
      ),
      { numRuns: 5000 },
    );
    expect(isoTime(Date.parse('2026-12-01T17:52:53.338Z') + 1.5)).toBe('2026-12-01T17:52:53.339Z');
  });

  it('stays exact through runs of repeated times (it keeps the last one formatted)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 253_402_300_799_999 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 50 }),
        (pool, picks) => {
          for (const pick of picks) {
            const ms = pool[pick % pool.length] as number;
            expect(isoTime(ms)).toBe(new Date(ms).toISOString());
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('formats the edges of a day and of a leap year', () => {
    for (const text of [
      '2024-02-29T23:59:59.999Z',
      '2024-03-01T00:00:00.000Z',
      '1970-01-01T00:00:00.000Z',
      '2026-11-27T10:00:00.001Z',
      '2000-02-29T12:00:00.000Z', // a leap century
      '2100-02-28T23:59:59.999Z', // a century that is not leap
      '2100-03-01T00:00:00.000Z',
      '1999-12-31T23:59:59.999Z',
      '9999-12-31T23:59:59.999Z',
    ]) {
      expect(isoTime(Date.parse(text))).toBe(text);
    }
  });

  it("writes as bytes the same text it formats (writeIsoTime, a listing page's times), through runs of repeated times and days", () => {
    const bytes = Buffer.alloc(30, 0x2a);
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 0, max: ISO_TIME_END - 1 }), fc.double({ min: 0, max: ISO_TIME_END - 1, noNaN: true })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 20 }),
        (pool, picks) => {
          for (const pick of picks) {
            const time = pool[pick % pool.length] as number;
            writeIsoTime(time, new DataView(bytes.buffer, bytes.byteOffset, bytes.length), 3);
            expect(bytes.toString('latin1')).toBe(`***${new Date(time).toISOString()}***`);
          }
        },
      ),
      { numRuns: 2000 },
    );
    expect(new Date(ISO_TIME_END).toISOString()).toBe('+010000-01-01T00:00:00.000Z');
  });
});
