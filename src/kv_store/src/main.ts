import { stopOnSignals } from '@kv/shared';
import { buildApp, openStore } from './app.js';
import { type Config, ConfigError, configWarnings, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { MemoryGovernor } from './memory-governor.js';
import { registerPersistenceMetrics } from './metrics/persistence-metrics.js';
import { Readiness } from './readiness.js';
import { DataDirError } from './store/durable/data-dir.js';
import { warmUp } from './warm-up.js';

/** Starts kv_store from the environment and shuts it down cleanly on SIGTERM or SIGINT. */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`kv_store: configuration error: ${err.message}\n`);
    process.exit(1);
  }
  const logger = createLogger(config.logLevel);
  for (const warning of configWarnings()) logger.warn(warning);
  // With KV_DATA_DIR the store is recovered from disk before the server listens.
  let opened: Awaited<ReturnType<typeof openStore>>;
  try {
    opened = await openStore(config, logger);
  } catch (err) {
    if (!(err instanceof DataDirError)) throw err;
    process.stderr.write(`kv_store: cannot start: ${err.message}\n`);
    process.exit(1);
  }
  const { persistence } = opened;
  const readiness = new Readiness();
  if (persistence !== undefined) {
    readiness.add('persistence', () => {
      const state = persistence.ready();
      return state.ok ? undefined : state.reason;
    });
  }
  const app = buildApp({ config, logger, store: opened.store, readiness });
  if (persistence !== undefined) registerPersistenceMetrics(app.metrics.registry, persistence);
  const { server } = app;
  // With a memory limit, keep RSS within what the process had at start plus 1.5 times the limit.
  const governor = Number.isFinite(config.maxMemoryBytes)
    ? new MemoryGovernor(process.memoryUsage.rss() + 1.5 * config.maxMemoryBytes, logger)
    : undefined;
  governor?.start();

  server.on('error', (err: NodeJS.ErrnoException) => {
    process.stderr.write(`kv_store: cannot listen on ${config.host}:${config.port}: ${listenProblem(err)}\n`);
    process.exit(1);
  });
  // The warm-up (warm-up.ts) runs once the server listens; /readyz waits for it.
  const warmUpAbort = new AbortController();
  let warming: Promise<void> | undefined;
  let warmedUp = config.warmUpMs === 0;
  if (!warmedUp) {
    readiness.add('warm_up', () =>
      warmedUp
        ? undefined
        : 'warming up: a short scripted load against a scratch store, so the first requests do not wait for code being compiled',
    );
  }
  server.listen(config.port, config.host, () => {
    if (!warmedUp) {
      warming = warmUp(config, config.warmUpMs, warmUpAbort.signal).then(
        (result) => {
          warmedUp = true;
          logger.info({ warmUp: result }, 'warm-up done');
        },
        (err: unknown) => {
          warmedUp = true;
          logger.warn({ err }, 'the warm-up failed; serving without it');
        },
      );
    }
    logger.info(
      {
        address: server.address(),
        limits: {
          maxKeyBytes: config.maxKeyBytes,
          maxValueBytes: config.maxValueBytes,
          maxBodyBytes: config.maxBodyBytes,
          maxKeys: limit(config.maxKeys),
          maxMemoryBytes: limit(config.maxMemoryBytes),
          maxConnections: config.maxConnections,
        },
        auth: config.authToken !== undefined || config.readToken !== undefined ? 'bearer' : 'off',
        backend: config.etcd === undefined ? 'memory' : { etcd: config.etcd.endpoints, prefix: config.etcd.prefix },
        persistence: config.dataDir === undefined ? 'off' : { dataDir: config.dataDir, fsync: config.fsync },
        cors: config.corsOrigins ?? 'off',
        // /readyz says "warming up" until the warm-up's 'warm-up done' line.
        warmUpMs: config.warmUpMs,
        node: process.version,
      },
      'kv_store listening',
    );
  });
  // When the stop began: the process ends 2 s after the shutdown timeout whatever happens
  // (stopOnSignals), so the snapshot written at the stop gives up a second before that.
  let stopAt = 0;
  stopOnSignals({
    server,
    timeoutMs: config.shutdownTimeoutMs,
    log: logger,
    beforeClose: () => {
      stopAt = Date.now();
      warmUpAbort.abort();
      app.drain();
      governor?.stop();
    },
    afterClose: async () => {
      await warming;
      await app.close();
      await persistence?.close({ snapshotBy: stopAt + config.shutdownTimeoutMs + 1000 });
    },
  });
}

function limit(n: number): number | 'unlimited' {
  return Number.isFinite(n) ? n : 'unlimited';
}

/** What went wrong when listening, in words (a port in use is the usual case). */
function listenProblem(err: NodeJS.ErrnoException): string {
  if (err.code === 'EADDRINUSE') return 'the port is already in use (set KV_PORT to use another)';
  if (err.code === 'EACCES') return 'permission denied (ports below 1024 need privileges)';
  if (err.code === 'EADDRNOTAVAIL') return "the address is not one of this machine's (check KV_HOST)";
  return err.message;
}

await main();
