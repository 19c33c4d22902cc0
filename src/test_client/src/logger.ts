import { standardLogOutput } from '@kv/shared';
import { type DestinationStream, type Logger, pino } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

/**
 * The structured logger: JSON lines on stdout (or `destination`), which `make logs` turns into
 * one readable line each. Stdout is written through an output that a closed or stalled pipe
 * cannot hold (@kv/shared's log-output.ts). Headers are never logged, and anything that looks like a credential
 * is redacted should it ever be passed in.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    name: 'test_client',
    level,
    base: { service: 'test_client' },
    redact: {
      paths: ['authorization', 'headers.authorization', 'req.headers.authorization', 'token', 'kvAuthToken', 'config.kvAuthToken'],
      censor: '[redacted]',
    },
  };
  return pino(options, destination ?? standardLogOutput());
}
