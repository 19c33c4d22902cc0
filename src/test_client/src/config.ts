import { baseUrl, ConfigError, type Env, host, integer, LOG_LEVELS, type LogLevel, oneOf, token, unknownVariables } from '@kv/shared';

export type { LogLevel };
export { ConfigError, LOG_LEVELS };

/** test_client's configuration, read once from the environment at start-up. */
export interface Config {
  readonly host: string;
  readonly port: number;
  /** kv_store's base URL, without a trailing slash. */
  readonly kvStoreUrl: string;
  /** Sent to kv_store as `Authorization: Bearer <token>`; never logged. */
  readonly kvAuthToken: string | undefined;
  /** Longest wait for one kv_store answer. */
  readonly kvTimeoutMs: number;
  readonly logLevel: LogLevel;
}

/** Every variable test_client reads (KV_AUTH_TOKEN and KV_STORE_URL are kv_store's names, shared with it). */
export const VARIABLES = [
  'TEST_CLIENT_HOST',
  'TEST_CLIENT_PORT',
  'TEST_CLIENT_KV_TIMEOUT_MS',
  'TEST_CLIENT_LOG_LEVEL',
  'KV_STORE_URL',
  'KV_AUTH_TOKEN',
] as const;

/** Reads and validates the configuration; throws ConfigError naming the bad variable. */
export function loadConfig(env: Env = process.env): Config {
  return Object.freeze({
    host: host(env, 'TEST_CLIENT_HOST', '127.0.0.1'),
    port: integer(env, 'TEST_CLIENT_PORT', 8081, 0, 65_535),
    kvStoreUrl: baseUrl(env, 'KV_STORE_URL', 'http://127.0.0.1:8080', 'KV_AUTH_TOKEN'),
    kvAuthToken: token(env, 'KV_AUTH_TOKEN'),
    kvTimeoutMs: integer(env, 'TEST_CLIENT_KV_TIMEOUT_MS', 2000, 100, 60_000),
    logLevel: oneOf(env, 'TEST_CLIENT_LOG_LEVEL', LOG_LEVELS, 'info'),
  });
}

/** Warnings for TEST_CLIENT_* variables that are set but unknown (typos), each naming the closest known one. */
export function configWarnings(env: Env = process.env): string[] {
  return unknownVariables(env, ['TEST_CLIENT_'], VARIABLES);
}
