import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketEnd } from '../src/store/etcd/lease-buckets.js';

const SECOND = 1000;
const HOUR = 3_600_000;

describe('expiry buckets (one shared lease each)', () => {
  it('a bucket ends at or after the expiry, and at most max(1 s, ttl / 64) after it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 42 }), fc.integer({ min: 1, max: 30 * 24 * HOUR }), (now, ttl) => {
        const expiresAt = now + ttl;
        const end = bucketEnd(expiresAt, now);
        expect(end).toBeGreaterThanOrEqual(expiresAt);
        expect(end - expiresAt).toBeLessThan(Math.max(SECOND, ttl / 64));
        expect(end % SECOND).toBe(0);
      }),
    );
  });

  it('a million keys written over an hour with TTLs up to an hour need a few hundred leases, not a million', () => {
    // Keys written at a steady rate for an hour, TTLs spread evenly from 1 s to 1 h (a fixed
    // pseudo-random sequence, so the count is the same every run).
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const N = 1_000_000;
    const end = HOUR;
    const live = new Set<number>();
    const granted = new Set<number>();
    for (let i = 0; i < N; i++) {
      const now = (i / N) * end;
      const ttl = SECOND + Math.floor(random() * (HOUR - SECOND));
      const bucket = bucketEnd(now + ttl, now);
      granted.add(bucket);
      if (bucket > end) live.add(bucket);
    }
    console.log(
      `[lease buckets] 1,000,000 keys over an hour, TTLs 1 s to 1 h: ${live.size} leases live at the end, ${granted.size} granted in all`,
    );
    // The bound of lease-buckets.ts: at most 129 per width in use (widths 1 to 32 s for TTLs up to an hour).
    expect(live.size).toBeLessThanOrEqual(6 * 129);
    expect(granted.size).toBeLessThan(N / 100);
  });
});
