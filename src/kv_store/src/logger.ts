import { standardLogOutput } from '@kv/shared';
import { type Logger, pino } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

/**
 * The structured logger: JSON lines on stdout, through an output that a closed or stalled pipe
 * cannot hold (@kv/shared's log-output.ts). Request headers are never logged, and the
 * Authorization header is redacted should a request object ever be passed in.
 */
export function createLogger(level: LogLevel): Logger {
  return pino(
    {
      name: 'kv_store',
      level,
      base: { service: 'kv_store' },
      redact: { paths: ['req.headers.authorization', 'headers.authorization', 'authorization'], censor: '[redacted]' },
    },
    standardLogOutput(),
  );
}
