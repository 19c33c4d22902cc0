import { stopOnSignals } from '@kv/shared';
import { buildApp } from './app.js';
import { type Config, ConfigError, configWarnings, loadConfig } from './config.js';
import { MemoryGovernor } from './memory-governor.js';

/** Starts kv_store from the environment and shuts it down cleanly on SIGTERM or SIGINT. */
function main(): void {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`kv_store: configuration error: ${err.message}\n`);
    process.exit(1);
  }
  const app = buildApp({ config });
  const { server, logger } = app;
  for (const warning of configWarnings()) logger.warn(warning);
  // With a memory limit, keep RSS within what the process had at start plus 1.5 times the limit.
  const governor = Number.isFinite(config.maxMemoryBytes)
    ? new MemoryGovernor(process.memoryUsage.rss() + 1.5 * config.maxMemoryBytes, logger)
    : undefined;
  governor?.start();

  server.on('error', (err: NodeJS.ErrnoException) => {
    process.stderr.write(`kv_store: cannot listen on ${config.host}:${config.port}: ${listenProblem(err)}\n`);
    process.exit(1);
  });
  server.listen(config.port, config.host, () => {
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
        cors: config.corsOrigins ?? 'off',
        node: process.version,
      },
      'kv_store listening',
    );
  });
  stopOnSignals({
    server,
    timeoutMs: config.shutdownTimeoutMs,
    log: logger,
    beforeClose: () => {
      app.drain();
      governor?.stop();
    },
    afterClose: () => app.close(),
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

main();
