import { Counter, Gauge, type Registry } from 'prom-client';
import type { KvStore, StoreStats } from '../store/store.js';

/**
 * The store's numbers, read from the port's stats() when /metrics is scraped: nothing is
 * counted on the request path. kv_store_limit_bytes and kv_store_limit_keys are +Inf when
 * there is no limit, so `kv_store_bytes / kv_store_limit_bytes` is 0 and an alert on it stays
 * quiet.
 */
export function registerStoreMetrics(registry: Registry, store: KvStore): void {
  const gauge = (name: string, help: string, read: (stats: StoreStats) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(store.stats()));
      },
    });
  };
  gauge('kv_keys', 'Live keys (expired keys not yet swept may be counted).', (s) => s.keys);
  gauge('kv_store_bytes', 'Bytes charged against the memory limit (KV_MAX_MEMORY_BYTES).', (s) => s.bytes);
  gauge('kv_store_limit_bytes', 'The memory limit in bytes (KV_MAX_MEMORY_BYTES); +Inf when there is none.', (s) => s.limitBytes);
  gauge('kv_store_limit_keys', 'The key limit (KV_MAX_KEYS); +Inf when there is none.', (s) => s.limitKeys);
  gauge('kv_revision', "The store's revision: the number of the last committed change.", (s) => s.revision);
  new Counter({
    name: 'kv_expired_keys_total',
    help: 'Keys removed because their time to live ran out, since start.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(store.stats().expiredTotal);
    },
  });
}
