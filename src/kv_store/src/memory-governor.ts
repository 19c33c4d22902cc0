import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from './logger.js';

/** How often RSS is looked at, and the least time between two collections. */
const CHECK_INTERVAL_MS = 100;
const MIN_GC_INTERVAL_MS = 500;

/** V8's gc(), exposed at run time when node was not started with --expose-gc. */
function exposeGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/**
 * Keeps RSS near KV_MAX_MEMORY_BYTES under write churn. V8 collects its old generation lazily,
 * sized against the machine's memory rather than the store's limit, so overwrites and
 * delete/create at the limit can leave RSS at several times the limit in garbage. When RSS
 * passes `targetRssBytes`, a full collection runs (at most twice a second); it never stops a
 * write, so the process cannot die of a heap limit set too tight, as --max-old-space-size can.
 */
export class MemoryGovernor {
  private timer: NodeJS.Timeout | undefined;
  private lastGc = 0;
  private readonly gc = exposeGc();

  constructor(
    private readonly targetRssBytes: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => this.check(), CHECK_INTERVAL_MS).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    const rss = process.memoryUsage.rss();
    const now = Date.now();
    if (rss <= this.targetRssBytes || now - this.lastGc < MIN_GC_INTERVAL_MS) return;
    this.lastGc = now;
    const started = performance.now();
    this.gc();
    this.logger.debug(
      { rssBefore: rss, rssAfter: process.memoryUsage.rss(), ms: performance.now() - started },
      'memory governor: full collection',
    );
  }
}
