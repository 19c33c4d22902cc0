import { Counter, Gauge, type Registry } from 'prom-client';

/** What the watch metrics read: the watch hub, as far as they need it. */
export interface WatchCounts {
  /** Watchers now: streams and waiting long-polls. */
  readonly watchers: number;
  /** Streams cut off since start, by reason. */
  readonly evictions: Readonly<Record<string, number>>;
}

/**
 * kv_watchers and kv_watch_evictions_total{reason}, read from the hub when /metrics is scraped:
 * nothing is counted on the change path but a number per cut-off. Reasons are the codes of the
 * stream's last message: slow_consumer (its client left more than KV_WATCH_BUFFER_BYTES unread)
 * and history_compacted (the history lost what it still had to send).
 */
export function registerWatchMetrics(registry: Registry, hub: WatchCounts): void {
  new Gauge({
    name: 'kv_watchers',
    help: 'Watchers now: open watch streams (SSE, NDJSON) and long-polls waiting for a change.',
    registers: [registry],
    collect() {
      this.set(hub.watchers);
    },
  });
  new Counter({
    name: 'kv_watch_evictions_total',
    help: 'Watch streams that kv_store ended since start, by reason: slow_consumer, history_compacted.',
    labelNames: ['reason'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(hub.evictions)) this.inc({ reason }, n);
    },
  });
}
