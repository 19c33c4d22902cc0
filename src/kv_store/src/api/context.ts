import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Readiness } from '../readiness.js';
import type { KvStore } from '../store/store.js';
import type { WatchHub } from './watch/watch-hub.js';

/**
 * What route modules are built from: the configuration, the store (through its port), the
 * logger, the metrics registry (a feature registers its own metrics there), the readiness checks
 * (a feature that can make kv_store unready adds one) and the watch hub.
 */
export interface ApiContext {
  readonly config: Config;
  readonly store: KvStore;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly readiness: Readiness;
  /** Fans the store's changes out to watchers; its owner closes it on shutdown. */
  readonly watches: WatchHub;
}
