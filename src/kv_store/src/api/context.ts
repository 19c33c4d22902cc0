import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { KvStore } from '../store/store.js';

/** What route modules are built from: the configuration, the store (through its port) and the logger. */
export interface ApiContext {
  readonly config: Config;
  readonly store: KvStore;
  readonly logger: Logger;
}
