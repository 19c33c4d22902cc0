import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { MemoryGovernor } from './memory-governor.js';

/** Starts kv_store from the environment and shuts it down cleanly on SIGTERM or SIGINT. */
function main(): void {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`kv_store: configuration error: ${err.message}\n`);
    process.exit(1);
  }
  const app = buildApp({ config });
  const { server, logger } = app;
  // With a memory limit, keep RSS within what the process had at start plus 1.5 times the limit.
  const governor = Number.isFinite(config.maxMemoryBytes)
    ? new MemoryGovernor(process.memoryUsage.rss() + 1.5 * config.maxMemoryBytes, logger)
    : undefined;
  governor?.start();

  server.on('error', (err) => {
    logger.fatal({ err }, 'server error');
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
        node: process.version,
      },
      'kv_store listening',
    );
  });

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing requests in flight');
    app.close();
    app.drain();
    governor?.stop();
    // Stop accepting; idle keep-alive sockets are closed now and busy ones once they answer.
    server.close(() => {
      clearInterval(idleCloser);
      logger.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
    const idleCloser = setInterval(() => server.closeIdleConnections(), 50);
    setTimeout(() => {
      logger.warn({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out; closing remaining connections');
      server.closeAllConnections();
      process.exit(0);
    }, config.shutdownTimeoutMs).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

function limit(n: number): number | 'unlimited' {
  return Number.isFinite(n) ? n : 'unlimited';
}

main();
