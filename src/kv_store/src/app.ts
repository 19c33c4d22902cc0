import type { RequestListener } from 'node:http';
import { createApi } from './api/api.js';
import type { ApiContext } from './api/context.js';
import type { ApiDoor } from './api/door.js';
import { WatchHub } from './api/watch/watch-hub.js';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import { nodeHandler } from './http/node-adapter.js';
import { WireServer } from './http/wire-server.js';
import { createLogger, type Logger } from './logger.js';
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
  /** Watch streams and long-polls. */
  readonly watches: WatchHub;
  /** From now on every answer says Connection: close, so clients stop reusing connections, and watches end (shutdown). */
  drain(): void;
  /** Ends the watches and stops the store's background work. The server is closed by its owner. */
  close(): Promise<void>;
}

/** The in-memory store with the configuration's limits. */
export function memoryStore(config: Config, clock?: Clock, id?: string): MemoryStore {
  return new MemoryStore({
    clock,
    id,
    limits: { maxKeys: config.maxKeys, maxMemoryBytes: config.maxMemoryBytes },
    history: { maxRevisions: config.watchHistory, maxBytes: config.watchHistoryBytes },
    cursors: { ttlMs: config.cursorTtlMs, maxCursors: config.maxCursors },
  });
}

/** Builds kv_store: the store, the HTTP API, and a server that is not yet listening. */
export function buildApp(options: AppOptions): App {
  const { config } = options;
  const logger = options.logger ?? createLogger(config.logLevel);
  const store = options.store ?? memoryStore(config, options.clock);
  const watches = new WatchHub(
    store,
    { maxWatchers: config.maxWatchers, progressMs: config.watchProgressMs, bufferBytes: config.watchBufferBytes },
    logger,
  );
  const context: ApiContext = { config, store, logger, watches };
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
    watches,
    drain: () => {
      server.drain();
      watches.close();
    },
    close: async () => {
      watches.close();
      await store.close();
    },
  };
}
