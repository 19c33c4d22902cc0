import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryStore, SWEEP_BATCH } from '../src/store/memory/memory-store.js';
import { SweepScheduler } from '../src/store/memory/sweep-scheduler.js';
import { FakeClock } from './helpers.js';

describe('SweepScheduler', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reclaims every expired entry in the background, one bounded batch per turn', () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    const sweeper = new SweepScheduler(store);
    const total = 2 * SWEEP_BATCH + 10;
    for (let i = 0; i < total; i++) store.create(`k${i}`, '1', { ttlMs: 1000 });
    store.create('forever', '1');
    const sweep = vi.spyOn(store, 'sweepExpired');
    sweeper.start();
    clock.advance(1000);
    vi.advanceTimersByTime(100);
    expect(sweep).toHaveBeenCalledTimes(1);
    expect(store.size).toBe(total + 1 - SWEEP_BATCH);
    vi.runOnlyPendingTimers(); // the setImmediate continuations
    vi.runOnlyPendingTimers();
    expect(store.size).toBe(1);
    expect(store.get('forever')?.value).toBe('1');
    expect(store.revision).toBe(2 * total + 1);
    sweeper.stop();
  });

  it('does nothing once stopped', () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    const sweeper = new SweepScheduler(store);
    store.create('k', '1', { ttlMs: 1000 });
    sweeper.start();
    sweeper.stop();
    clock.advance(1000);
    vi.advanceTimersByTime(1000);
    expect(store.size).toBe(1);
  });
});
