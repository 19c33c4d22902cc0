import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExpiryQueue } from '../src/store/memory/expiry-queue.js';

// The queue names entries by their key's 32-bit hash (see expiry-queue.ts); these tests use small numbers as hashes.
const A = 0xa;
const B = 0xb;
const C = 0xc;
const D = 0xd;
const E = 0xe;

function drain(queue: ExpiryQueue): number[] {
  const hashes: number[] = [];
  while (queue.size > 0) hashes.push(queue.pop());
  return hashes;
}

describe('ExpiryQueue', () => {
  it('is empty at first, and its earliest time is Infinity', () => {
    const queue = new ExpiryQueue();
    expect(queue.size).toBe(0);
    expect(queue.peekTime()).toBe(Number.POSITIVE_INFINITY);
  });

  it('pops hashes earliest time first', () => {
    const queue = new ExpiryQueue();
    queue.push(30, C);
    queue.push(10, A);
    queue.push(40, D);
    queue.push(20, B);
    expect(queue.size).toBe(4);
    expect(queue.peekTime()).toBe(10);
    expect(drain(queue)).toEqual([A, B, C, D]);
    expect(queue.peekTime()).toBe(Number.POSITIVE_INFINITY);
  });

  it('keeps every item pushed at the same time, and the same hash pushed twice; hashes keep all 32 bits', () => {
    const queue = new ExpiryQueue();
    queue.push(5, 0xffffffff);
    queue.push(5, B);
    queue.push(5, 0xffffffff);
    expect(drain(queue).sort((x, y) => x - y)).toEqual([B, 0xffffffff, 0xffffffff]);
  });

  it('retain keeps only the items the predicate holds, in heap order', () => {
    const queue = new ExpiryQueue();
    for (const [time, hash] of [
      [50, E],
      [10, A],
      [40, D],
      [20, B],
      [30, C],
    ] as const) {
      queue.push(time, hash);
    }
    queue.retain((time, hash) => time !== 20 && hash !== D);
    expect(queue.size).toBe(3);
    expect(queue.peekTime()).toBe(10);
    expect(drain(queue)).toEqual([A, C, E]);
  });

  it('prune checks at most its budget of items a call, and calls in turn reach every stale item', () => {
    const queue = new ExpiryQueue();
    for (let i = 0; i < 1000; i++) queue.push(i, i % 2 === 0 ? A : B);
    let checked = 0;
    const staleB = (_time: number, hash: number): boolean => {
      checked++;
      return hash === B;
    };
    expect(queue.prune(50, staleB)).toBeLessThanOrEqual(50);
    expect(checked).toBe(50);
    let calls = 1;
    while (queue.size > 500 && calls < 1000) {
      queue.prune(50, staleB);
      calls++;
    }
    expect(queue.size).toBe(500);
    const popped = drain(queue);
    expect(popped.every((h) => h === A)).toBe(true);
  });

  it('grows past several pages of 65,536 items and gives pages back as it empties, in order throughout', () => {
    const queue = new ExpiryQueue();
    const n = 200_000;
    for (let i = 0; i < n; i++) queue.push((i * 7919) % n, i);
    expect(queue.size).toBe(n);
    const pages = (): number => (Reflect.get(queue, 'timePages') as Float64Array[]).length;
    expect(pages()).toBe(4);
    let last = -1;
    let outOfOrder = 0;
    for (let i = 0; i < n; i++) {
      const time = queue.peekTime();
      if (time < last) outOfOrder++;
      last = time;
      queue.pop();
    }
    expect(outOfOrder).toBe(0);
    expect(queue.size).toBe(0);
    expect(pages()).toBe(1);
  });
});

describe('property: ExpiryQueue', () => {
  it('pops every item pushed, in order of time', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: -1e6, max: 1e6 }), fc.nat({ max: 0xffffffff }))), (items) => {
        const queue = new ExpiryQueue();
        for (const [time, hash] of items) queue.push(time, hash);
        const popped: Array<[number, number]> = [];
        while (queue.size > 0) {
          const time = queue.peekTime();
          popped.push([time, queue.pop()]);
        }
        const byTime = (x: [number, number], y: [number, number]) => x[0] - y[0] || x[1] - y[1];
        for (let i = 1; i < popped.length; i++) expect(popped[i]![0]).toBeGreaterThanOrEqual(popped[i - 1]![0]);
        expect([...popped].sort(byTime)).toEqual([...items].sort(byTime));
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with a sorted list under any mix of push, pop, prune and retain', () => {
    const op = fc.oneof(
      fc.tuple(fc.constant('push' as const), fc.integer({ min: 0, max: 50 }), fc.constantFrom(A, B, C, D), fc.constant(0)),
      fc.tuple(fc.constant('pop' as const), fc.constant(0), fc.constant(0), fc.constant(0)),
      fc.tuple(fc.constant('prune' as const), fc.integer({ min: 0, max: 50 }), fc.constantFrom(A, B, C, D), fc.integer({ min: 1, max: 8 })),
      fc.tuple(fc.constant('retain' as const), fc.integer({ min: 0, max: 50 }), fc.constantFrom(A, B, C, D), fc.constant(0)),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const queue = new ExpiryQueue();
        let model: Array<[number, number]> = [];
        for (const [kind, time, hash, budget] of ops) {
          if (kind === 'push') {
            queue.push(time, hash);
            model.push([time, hash]);
          } else if (kind === 'pop' && model.length > 0) {
            const earliest = Math.min(...model.map(([t]) => t));
            const popped = queue.pop();
            const at = model.findIndex(([t, h]) => t === earliest && h === popped);
            expect(at).toBeGreaterThanOrEqual(0);
            model.splice(at, 1);
          } else if (kind === 'prune' || kind === 'retain') {
            // Drop one hash's items due at or before `time`, as the store drops stale items.
            const stale = (t: number, h: number) => h === hash && t <= time;
            if (kind === 'retain') {
              queue.retain((t, h) => !stale(t, h));
              model = model.filter(([t, h]) => !stale(t, h));
            } else {
              // A bounded prune removes some of the stale items, never a live one.
              const before = queue.size;
              const removed = queue.prune(budget, stale);
              expect(removed).toBeLessThanOrEqual(budget);
              expect(queue.size).toBe(before - removed);
              const key = ([t, h]: [number, number]): string => `${t}/${h}`;
              const left = new Map<string, number>();
              for (const item of model) left.set(key(item), (left.get(key(item)) ?? 0) + 1);
              const queueItems = drainCopy(queue);
              // What the queue holds was in the model (as a multiset) ...
              for (const item of queueItems) {
                const n = left.get(key(item)) ?? 0;
                expect(n).toBeGreaterThan(0);
                left.set(key(item), n - 1);
              }
              // ... and what it dropped was stale.
              for (const [k, n] of left) if (n > 0) expect(stale(...(k.split('/').map(Number) as [number, number]))).toBe(true);
              model = queueItems;
            }
          }
          expect(queue.size).toBe(model.length);
          expect(queue.peekTime()).toBe(model.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...model.map(([t]) => t)));
        }
      }),
      { numRuns: 300 },
    );
  });
});

/** Every item of the queue (popped and pushed back, so the queue is left as it was in content). */
function drainCopy(queue: ExpiryQueue): Array<[number, number]> {
  const items: Array<[number, number]> = [];
  while (queue.size > 0) {
    const time = queue.peekTime();
    items.push([time, queue.pop()]);
  }
  for (const [time, hash] of items) queue.push(time, hash);
  return items;
}
