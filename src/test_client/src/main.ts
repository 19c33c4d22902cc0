import { stopOnSignals } from '@kv/shared';
import { buildApp } from './app.js';
import { type Config, ConfigError, configWarnings, loadConfig } from './config.js';

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
  for (const warning of configWarnings()) logger.warn(warning);

  server.on('error', (err: NodeJS.ErrnoException) => {
    process.stderr.write(`test_client: cannot listen on ${config.host}:${config.port}: ${listenProblem(err)}\n`);
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
  stopOnSignals({ server, timeoutMs: SHUTDOWN_TIMEOUT_MS, log: logger });
}

/** What went wrong when listening, in words (a port in use is the usual case). */
function listenProblem(err: NodeJS.ErrnoException): string {
  if (err.code === 'EADDRINUSE') return 'the port is already in use (set TEST_CLIENT_PORT to use another)';
  if (err.code === 'EACCES') return 'permission denied (ports below 1024 need privileges)';
  if (err.code === 'EADDRNOTAVAIL') return "the address is not one of this machine's (check TEST_CLIENT_HOST)";
  return err.message;
}

main();
