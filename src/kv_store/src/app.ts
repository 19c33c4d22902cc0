import type { RequestListener } from 'node:http';
import { createApi } from './api/api.js';
import type { ApiContext } from './api/context.js';
import type { ApiDoor } from './api/door.js';
import { readFileSync } from 'node:fs';
import { answerObserver } from './answer-observer.js';
import { WatchHub } from './api/watch/watch-hub.js';
import type { Clock } from './clock.js';
import type { Config, EtcdConfig } from './config.js';
import { nodeHandler } from './http/node-adapter.js';
import { WireServer } from './http/wire-server.js';
import { createLogger, type Logger } from './logger.js';
import { EtcdStore } from './store/etcd/etcd-store.js';
import { registerEtcdMetrics } from './metrics/etcd-metrics.js';
import { Metrics } from './metrics/metrics.js';
import { registerStoreMetrics } from './metrics/store-metrics.js';
import { registerWatchMetrics } from './metrics/watch-metrics.js';
import { Readiness } from './readiness.js';
import { Persistence } from './store/durable/persistence.js';
import { MemoryStore } from './store/memory/memory-store.js';
import type { KvStore } from './store/store.js';

export interface AppOptions {
  readonly config: Config;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** The store to serve; by default the configuration's (KV_BACKEND): see storeFromConfig. */
  readonly store?: KvStore;
  /** Where metrics are registered, for features built before the app; by default a new one (KV_METRICS). */
  readonly metrics?: Metrics;
  /** Readiness checks, for features built before the app; by default a new set. */
  readonly readiness?: Readiness;
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
  /** The metrics registry: a feature registers its metrics here (metrics/metrics.ts says how). */
  readonly metrics: Metrics;
  /** What /readyz checks: a feature that can make kv_store unready adds a check here. */
  readonly readiness: Readiness;
  /** Watch streams and long-polls. */
  readonly watches: WatchHub;
  /**
   * Shutdown has begun: /readyz answers 503 (check `shutdown`), every answer says
   * Connection: close, so clients stop reusing connections, and watches end.
   */
  drain(): void;
  /** Ends the watches and stops the store's background work. The server is closed by its owner. */
  close(): Promise<void>;
}

/** The in-memory store with the configuration's limits; `durable` when it is logged to KV_DATA_DIR. */
export function memoryStore(config: Config, clock?: Clock, id?: string, durable = false): MemoryStore {
  return new MemoryStore({
    clock,
    id,
    durable,
    limits: { maxKeys: config.maxKeys, maxMemoryBytes: config.maxMemoryBytes },
    history: { maxRevisions: config.watchHistory, maxBytes: config.watchHistoryBytes },
    cursors: { ttlMs: config.cursorTtlMs, maxCursors: config.maxCursors },
  });
}

/** The etcd backend from KV_ETCD_* (the TLS files are read here, once), with the configuration's limits. */
export function etcdStore(etcd: EtcdConfig, config: Config, clock?: Clock, logger?: Logger): EtcdStore {
  const read = (path: string | undefined) => (path === undefined ? undefined : readFileSync(path, 'utf8'));
  const tls =
    etcd.caFile === undefined && etcd.certFile === undefined
      ? undefined
      : { ca: read(etcd.caFile), cert: read(etcd.certFile), key: read(etcd.keyFile) };
  return new EtcdStore({
    connection: { endpoints: etcd.endpoints, username: etcd.username, password: etcd.password, tls },
    prefix: etcd.prefix,
    batchWaitMs: etcd.batchWaitMs,
    clock,
    logger,
    limits: { maxKeys: config.maxKeys, maxMemoryBytes: config.maxMemoryBytes },
    history: { maxRevisions: config.watchHistory, maxBytes: config.watchHistoryBytes },
  });
}

/** The store KV_BACKEND names: this process's memory (the default), or a node over an etcd cluster. */
export function storeFromConfig(config: Config, clock?: Clock, logger?: Logger): KvStore {
  return config.etcd === undefined ? memoryStore(config, clock) : etcdStore(config.etcd, config, clock, logger);
}

/**
 * The store the configuration asks for, ready to serve: storeFromConfig's, or with KV_DATA_DIR
 * the memory engine recovered from its data directory and logged there, with the persistence
 * object that reports readiness and is closed last. Throws DataDirError when the directory
 * cannot be used.
 */
export async function openStore(
  config: Config,
  logger: Logger,
  clock?: Clock,
): Promise<{ store: KvStore; persistence: Persistence | undefined }> {
  if (config.dataDir === undefined) return { store: storeFromConfig(config, clock, logger), persistence: undefined };
  const persistence = new Persistence({
    dir: config.dataDir,
    fsync: config.fsync,
    recovery: config.recovery,
    snapshotEveryBytes: config.snapshotEveryBytes,
    segmentBytes: config.walSegmentBytes,
    snapshotOnClose: config.snapshotOnStop,
    log: logger,
    createStore: (id) => memoryStore(config, clock, id, true),
  });
  return { store: await persistence.open(), persistence };
}

/** Builds kv_store: the store, the HTTP API, and a server that is not yet listening. */
export function buildApp(options: AppOptions): App {
  const { config } = options;
  const logger = options.logger ?? createLogger(config.logLevel);
  const store = options.store ?? storeFromConfig(config, options.clock, logger);
  const metrics = options.metrics ?? new Metrics(config.metrics);
  registerStoreMetrics(metrics.registry, store);
  // A node over etcd reports its requests to etcd too; with KV_METRICS=off nothing is observed.
  if (store instanceof EtcdStore && metrics.enabled) registerEtcdMetrics(metrics.registry, store);
  const readiness = options.readiness ?? new Readiness();
  let stopping = false;
  readiness.add('shutdown', () => (stopping ? 'shutting down: finishing the requests in flight, taking no new connections' : undefined));
  // A backend that can lose its footing (etcd out of reach, a watch catching up) says so.
  const storeReady = store.ready?.bind(store);
  if (storeReady !== undefined) {
    readiness.add('backend', () => {
      const { ok, reason } = storeReady();
      return ok ? undefined : reason;
    });
  }
  const watches = new WatchHub(
    store,
    { maxWatchers: config.maxWatchers, progressMs: config.watchProgressMs, bufferBytes: config.watchBufferBytes },
    logger,
  );
  registerWatchMetrics(metrics.registry, watches);
  const context: ApiContext = { config, store, logger, metrics, readiness, watches };
  const door = createApi(context);
  const onAnswer = answerObserver(logger, metrics.enabled ? metrics.requests : undefined);
  const server = new WireServer(door, {
    headersTimeoutMs: config.headersTimeoutMs,
    requestTimeoutMs: config.requestTimeoutMs,
    keepAliveTimeoutMs: config.keepAliveTimeoutMs,
    maxConnections: config.maxConnections,
    onAnswer,
    onError: (err, head) => logger.error({ err, requestId: head?.requestId, method: head?.method, route: head?.route }, 'request failed'),
  });
  store.start();

  return {
    door,
    handler: nodeHandler(door, onAnswer),
    server,
    store,
    logger,
    metrics,
    readiness,
    watches,
    drain: () => {
      stopping = true;
      server.drain();
      watches.close();
    },
    close: async () => {
      watches.close();
      await store.close();
    },
  };
}
