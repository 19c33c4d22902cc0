import type { MemoryStore } from './memory-store.js';

/** How often the sweeper looks for expired entries. */
const SWEEP_INTERVAL_MS = 100;

/**
 * Reclaims expired entries in the background: every interval it sweeps one bounded step (at most
 * SWEEP_BATCH entries and SWEEP_STEP_MS) and, while more are due, yields to pending I/O
 * (setImmediate) before the next, so even a million keys expiring at once never stall a request
 * for more than one step.
 */
export class SweepScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(private readonly store: MemoryStore) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.run(), SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private run(): void {
    if (this.running || this.timer === undefined) return;
    this.running = true;
    this.store.maintain();
    const step = (): void => {
      if (this.timer !== undefined && this.store.sweepStep()) {
        setImmediate(step);
      } else {
        this.running = false;
      }
    };
    step();
  }
}
