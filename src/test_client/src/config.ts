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

/** The levels TEST_CLIENT_LOG_LEVEL accepts (pino's). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** A pino log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A configuration value that cannot be used; the message names the variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Readonly<Record<string, string | undefined>>;

/** Reads and validates the configuration; throws ConfigError naming the bad variable. */
export function loadConfig(env: Env = process.env): Config {
  return Object.freeze({
    host: host(env, 'TEST_CLIENT_HOST', '127.0.0.1'),
    port: integer(env, 'TEST_CLIENT_PORT', 8081, 0, 65_535),
    kvStoreUrl: baseUrl(env, 'KV_STORE_URL', 'http://127.0.0.1:8080'),
    kvAuthToken: token(env, 'KV_AUTH_TOKEN'),
    kvTimeoutMs: integer(env, 'TEST_CLIENT_KV_TIMEOUT_MS', 2000, 100, 60_000),
    logLevel: oneOf(env, 'TEST_CLIENT_LOG_LEVEL', LOG_LEVELS, 'info'),
  });
}

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new ConfigError(`${name} must be a whole number, got '${value}'`);
  const n = Number(value);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return n;
}

function host(env: Env, name: string, fallback: string): string {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!/^[A-Za-z0-9.:_-]+$/.test(value)) throw new ConfigError(`${name} must be a host name or IP address, got '${value}'`);
  return value;
}

function baseUrl(env: Env, name: string, fallback: string): string {
  const value = raw(env, name) ?? fallback;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name} must be a URL such as http://127.0.0.1:8080, got '${value}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an http:// or https:// URL, got '${value}'`);
  }
  // Credentials in the URL would end up in every log line; the token has its own variable.
  if (url.username !== '' || url.password !== '') {
    throw new ConfigError(`${name} must not contain credentials; set KV_AUTH_TOKEN instead`);
  }
  if (url.search !== '' || url.hash !== '') throw new ConfigError(`${name} must not have a query or fragment, got '${value}'`);
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

function token(env: Env, name: string): string | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  // Say what is wrong without echoing the secret.
  if (!/^[\x21-\x7e]+$/.test(value)) throw new ConfigError(`${name} must be printable ASCII without spaces`);
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got '${value}'`);
  }
  return value as T;
}
