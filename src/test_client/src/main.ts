import { buildApp } from './app.js';
import { type Config, ConfigError, loadConfig } from './config.js';

/** Longest wait for tests in flight at shutdown; below `docker stop`'s 10 s grace period. */
const SHUTDOWN_TIMEOUT_MS = 8_000;

/** Starts test_client from the environment and shuts it down cleanly on SIGTERM or SIGINT. */
function main(): void {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`test_client: configuration error: ${err.message}\n`);
    process.exit(1);
  }
  const { server, logger } = buildApp({ config });

  server.on('error', (err) => {
    logger.fatal({ err }, 'server error');
    process.exit(1);
  });
  server.listen(config.port, config.host, () => {
    logger.info(
      {
        address: server.address(),
        kvStoreUrl: config.kvStoreUrl,
        kvTimeoutMs: config.kvTimeoutMs,
        auth: config.kvAuthToken === undefined ? 'off' : 'bearer',
        node: process.version,
      },
      'test_client listening',
    );
  });

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing tests in flight');
    // Stop accepting; idle keep-alive sockets are closed now and busy ones once they answer.
    server.close(() => {
      clearInterval(idleCloser);
      logger.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
    const idleCloser = setInterval(() => server.closeIdleConnections(), 50);
    setTimeout(() => {
      logger.warn({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out; closing remaining connections');
      server.closeAllConnections();
      process.exit(0);
    }, SHUTDOWN_TIMEOUT_MS).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main();
