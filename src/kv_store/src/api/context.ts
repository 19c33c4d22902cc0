import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { KvStore } from '../store/store.js';
import type { WatchHub } from './watch/watch-hub.js';

/** What route modules are built from: the configuration, the store (through its port), the watch hub and the logger. */
export interface ApiContext {
  readonly config: Config;
  readonly store: KvStore;
  readonly logger: Logger;
  /** Fans the store's changes out to watchers; its owner closes it on shutdown. */
  readonly watches: WatchHub;
}
