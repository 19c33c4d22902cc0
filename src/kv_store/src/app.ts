import type { RequestListener } from 'node:http';
import { createApi } from './api/api.js';
import type { ApiContext } from './api/context.js';
import type { ApiDoor } from './api/door.js';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import { nodeHandler } from './http/node-adapter.js';
import { WireServer } from './http/wire-server.js';
import { createLogger, type Logger } from './logger.js';
import { Persistence } from './store/durable/persistence.js';
import { MemoryStore } from './store/memory/memory-store.js';
import type { KvStore } from './store/store.js';

export interface AppOptions {
  readonly config: Config;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** The store to serve; by default a new in-memory store from the configuration's limits. */
  readonly store?: KvStore;
}

export interface App {
  /** The API's door: what the transports call, and what route tests call directly. */
  readonly door: ApiDoor;
  /** The API as a node:http request listener, for embedding. */
  readonly handler: RequestListener;
  /** kv_store's HTTP/1.1 server with the configured timeouts and limits, not yet listening. */
  readonly server: WireServer;
  readonly store: KvStore;
  readonly logger: Logger;
  /** From now on every answer says Connection: close, so clients stop reusing connections (shutdown). */
  drain(): void;
  /** Stops the store's background work. The server is closed by its owner. */
  close(): Promise<void>;
}

/** The in-memory store with the configuration's limits. */
export function memoryStore(config: Config, clock?: Clock, id?: string): MemoryStore {
  return new MemoryStore({ clock, id, limits: { maxKeys: config.maxKeys, maxMemoryBytes: config.maxMemoryBytes } });
}

/**
 * The store the configuration asks for: in memory, or with KV_DATA_DIR recovered from its data
 * directory and logged there, with the persistence object that reports readiness and is closed
 * last. Throws DataDirError when the directory cannot be used.
 */
export async function openStore(
  config: Config,
  logger: Logger,
  clock?: Clock,
): Promise<{ store: KvStore; persistence: Persistence | undefined }> {
  if (config.dataDir === undefined) return { store: memoryStore(config, clock), persistence: undefined };
  const persistence = new Persistence({
    dir: config.dataDir,
    fsync: config.fsync,
    recovery: config.recovery,
    snapshotEveryBytes: config.snapshotEveryBytes,
    segmentBytes: config.walSegmentBytes,
    log: logger,
    createStore: (id) => memoryStore(config, clock, id),
  });
  return { store: await persistence.open(), persistence };
}

/** Builds kv_store: the store, the HTTP API, and a server that is not yet listening. */
export function buildApp(options: AppOptions): App {
  const { config } = options;
  const logger = options.logger ?? createLogger(config.logLevel);
  const store = options.store ?? memoryStore(config, options.clock);
  const context: ApiContext = { config, store, logger };
  const door = createApi(context);
  const onAnswer = logger.isLevelEnabled('debug')
    ? (head: { method: string; target: string }, status: number, startedAt: number) =>
        logger.debug({ method: head.method, url: head.target, status, ms: Date.now() - startedAt }, 'request')
    : undefined;
  const server = new WireServer(door, {
    headersTimeoutMs: config.headersTimeoutMs,
    requestTimeoutMs: config.requestTimeoutMs,
    keepAliveTimeoutMs: config.keepAliveTimeoutMs,
    maxConnections: config.maxConnections,
    onAnswer,
    onError: (err) => logger.error({ err }, 'request failed'),
  });
  store.start();

  return {
    door,
    handler: nodeHandler(door, onAnswer),
    server,
    store,
    logger,
    drain: () => server.drain(),
    close: async () => {
      await store.close();
    },
  };
}
