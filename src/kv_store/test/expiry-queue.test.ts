import { describe, expect, it } from 'vitest';
import { ExpiryQueue } from '../src/store/memory/expiry-queue.js';

function drain(queue: ExpiryQueue): string[] {
  const keys: string[] = [];
  while (queue.size > 0) keys.push(queue.pop());
  return keys;
}

describe('ExpiryQueue', () => {
  it('is empty at first, and its earliest time is Infinity', () => {
    const queue = new ExpiryQueue();
    expect(queue.size).toBe(0);
    expect(queue.peekTime()).toBe(Number.POSITIVE_INFINITY);
  });

  it('pops keys earliest time first', () => {
    const queue = new ExpiryQueue();
    queue.push(30, 'c');
    queue.push(10, 'a');
    queue.push(40, 'd');
    queue.push(20, 'b');
    expect(queue.size).toBe(4);
    expect(queue.peekTime()).toBe(10);
    expect(drain(queue)).toEqual(['a', 'b', 'c', 'd']);
    expect(queue.peekTime()).toBe(Number.POSITIVE_INFINITY);
  });

  it('keeps every item pushed at the same time, and the same key pushed twice', () => {
    const queue = new ExpiryQueue();
    queue.push(5, 'x');
    queue.push(5, 'y');
    queue.push(5, 'x');
    expect(drain(queue).sort()).toEqual(['x', 'x', 'y']);
  });

  it('retain keeps only the items the predicate holds, in heap order', () => {
    const queue = new ExpiryQueue();
    for (const [time, key] of [
      [50, 'e'],
      [10, 'a'],
      [40, 'd'],
      [20, 'b'],
      [30, 'c'],
    ] as const) {
      queue.push(time, key);
    }
    queue.retain((time, key) => time !== 20 && key !== 'd');
    expect(queue.size).toBe(3);
    expect(queue.peekTime()).toBe(10);
    expect(drain(queue)).toEqual(['a', 'c', 'e']);
  });
});
