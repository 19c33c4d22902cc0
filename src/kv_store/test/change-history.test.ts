import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { batchBytes, ChangeHistory } from '../src/store/memory/change-history.js';
import type { Change, ChangeBatch } from '../src/store/store.js';

/*
 * The history keeps batches as bytes and decodes them for `since`: what comes back must equal
 * what went in (every field, `reason` and `prev` present exactly when they were), and what is
 * held must be what a model of the limits holds: the newest batches within maxRevisions and
 * maxBytes (by batchBytes), everything after `floor`.
 */

const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.constantFrom('', 'é', '😀', 'キー', '\u{10FFFF}'),
  fc.integer({ min: 1, max: 3 }).map((n) => 'v'.repeat(n * 700_000)), // larger than a chunk, now and then
);
const time = fc.oneof(fc.integer({ min: 0, max: 2 ** 45 }), fc.constant(Number.POSITIVE_INFINITY));
const prevArb = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.record({ value: text, version: fc.integer({ min: 1, max: 2 ** 40 }), revision: fc.integer({ min: 1, max: 2 ** 40 }) }),
);
const changeArb: fc.Arbitrary<Change> = fc.oneof(
  fc
    .record({
      key: text,
      value: text,
      version: fc.integer({ min: 1, max: 2 ** 40 }),
      revision: fc.integer({ min: 1, max: 2 ** 40 }),
      createdAt: time,
      updatedAt: time,
      expiresAt: time,
      txn: fc.boolean(),
      prev: prevArb,
    })
    .map(({ txn, prev, ...entry }) => {
      const change: Change = txn ? { type: 'put', ...entry, reason: 'txn' } : { type: 'put', ...entry };
      if (prev !== undefined) change.prev = prev;
      return change;
    }),
  fc
    .record({
      key: text,
      revision: fc.integer({ min: 1, max: 2 ** 40 }),
      reason: fc.constantFrom('delete', 'expired', 'txn' as const),
      prev: prevArb,
    })
    .map(({ prev, ...rest }) => {
      const change: Change = { type: 'delete', ...rest };
      if (prev !== undefined) change.prev = prev;
      return change;
    }),
);

describe('ChangeHistory (batches kept as bytes)', () => {
  it('gives back every batch it holds as it was appended, and holds what a model of its limits holds', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(changeArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 500, max: 8_000_000 }),
        (changeLists, maxRevisions, maxBytes) => {
          const history = new ChangeHistory({ maxRevisions, maxBytes });
          const model: ChangeBatch[] = [];
          let floor = 0;
          let held = 0;
          changeLists.forEach((changes, i) => {
            const batch: ChangeBatch = { revision: i + 1, changes };
            history.append(batch);
            model.push(batch);
            held += batchBytes(batch);
            while (model.length > 0 && (model.length > maxRevisions || held > maxBytes)) {
              const dropped = model.shift() as ChangeBatch;
              held -= batchBytes(dropped);
              floor = dropped.revision;
            }
            expect(history.size).toBe(model.length);
            expect(history.floor).toBe(floor);
          });
          expect(history.since(floor, 1000)).toEqual(model);
          if (model.length > 1) expect(history.since(floor + 1, 1)).toEqual(model.slice(1, 2));
          if (floor > 0) expect(history.since(floor - 1, 10)).toEqual({ compacted: true, oldestRevision: floor + 1 });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('keeps 10,000 revisions of 100-byte values in a few chunks, and reuses them as it goes', () => {
    const history = new ChangeHistory({ maxRevisions: 10_000, maxBytes: 64 * 1_048_576 });
    const value = `"${'x'.repeat(98)}"`;
    for (let r = 1; r <= 100_000; r++) {
      history.append({
        revision: r,
        changes: [
          {
            type: 'put',
            key: `k${r % 1000}`,
            value,
            version: r,
            revision: r,
            createdAt: 1,
            updatedAt: 2,
            expiresAt: Number.POSITIVE_INFINITY,
            prev: { value, version: r - 1, revision: r - 1 },
          },
        ],
      });
    }
    expect(history.size).toBe(10_000);
    expect(history.floor).toBe(90_000);
    const chunks = (Reflect.get(history, 'chunks') as unknown[]).length;
    expect(chunks).toBeLessThanOrEqual(4);
    const [first] = history.since(90_000, 1) as ChangeBatch[];
    expect(first?.changes[0]).toMatchObject({ key: 'k1', version: 90_001, prev: { version: 90_000 } });
  });

  it('after startAfter (a store loaded at a revision) holds nothing up to it and every batch after it', () => {
    const history = new ChangeHistory({ maxRevisions: 100, maxBytes: 64 * 1_048_576 });
    const put = (revision: number, value: string): ChangeBatch => ({
      revision,
      changes: [
        { type: 'put', key: `k${revision}`, value, version: 1, revision, createdAt: 1, updatedAt: 1, expiresAt: Number.POSITIVE_INFINITY },
      ],
    });
    // Batches in more than one chunk (one larger than a chunk) before the reset.
    history.append(put(1, 'a'));
    history.append(put(2, 'v'.repeat(1_500_000)));
    history.append(put(3, 'b'));
    history.startAfter(50);
    expect(history.size).toBe(0);
    expect(history.bytes).toBe(0);
    expect(history.floor).toBe(50);
    expect(history.since(49, 10)).toEqual({ compacted: true, oldestRevision: 51 });
    expect(history.since(50, 10)).toEqual([]);
    const after = [put(51, 'c'), put(52, 'd'.repeat(2_000_000)), put(53, 'é')];
    for (const batch of after) history.append(batch);
    expect(history.size).toBe(3);
    expect(history.bytes).toBe(after.reduce((sum, batch) => sum + batchBytes(batch), 0));
    expect(history.since(50, 10)).toEqual(after);
    expect(history.since(51, 1)).toEqual([after[1]]);
  });
});
