import { Gauge, Histogram, type Registry } from 'prom-client';
import type { Persistence } from '../store/durable/persistence.js';

/**
 * Persistence's numbers (KV_DATA_DIR): each fsync of the write-ahead log as it happens (a group
 * commit, a once-a-second sync, a finished segment; at most one in flight), and the time of the
 * last snapshot, read when /metrics is scraped.
 */
export function registerPersistenceMetrics(registry: Registry, persistence: Persistence): void {
  const fsyncs = new Histogram({
    name: 'kv_wal_fsync_duration_seconds',
    help: 'How long each fsync of the write-ahead log took; under KV_FSYNC=always every write waits for one.',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  persistence.observeFsyncs((seconds) => fsyncs.observe(seconds));
  new Gauge({
    name: 'kv_snapshot_last_success_timestamp_seconds',
    help: 'When the last snapshot of the store was written, in seconds since the epoch; 0 when none was since start.',
    registers: [registry],
    collect() {
      this.set((persistence.stats()?.lastSnapshot?.at ?? 0) / 1000);
    },
  });
}
