/** kv_store's configuration, read once from the environment at start-up. */
export interface Config {
  readonly host: string;
  readonly port: number;
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  /** Largest request body; by default room for the largest key and value plus their JSON. */
  readonly maxBodyBytes: number;
  readonly maxKeys: number;
  readonly maxMemoryBytes: number;
  readonly authToken: string | undefined;
  readonly readToken: string | undefined;
  readonly logLevel: LogLevel;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxConnections: number;
  readonly shutdownTimeoutMs: number;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A configuration value that cannot be used; the message names the variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Room a request body needs beyond the key and value: the field names, quotes, a ttl and some
 * whitespace. A key's JSON text is at most 6 bytes per key byte (`\u0022` for `"`).
 */
const BODY_OVERHEAD_BYTES = 1024;

/** The smallest body limit that still admits the largest key and value. */
export function minBodyBytes(maxKeyBytes: number, maxValueBytes: number): number {
  return maxValueBytes + 6 * maxKeyBytes + BODY_OVERHEAD_BYTES;
}

/** Reads and validates the configuration; throws ConfigError naming the bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const maxKeyBytes = integer(env, 'KV_MAX_KEY_BYTES', 512, 1, 65_536);
  const maxValueBytes = integer(env, 'KV_MAX_VALUE_BYTES', 1_048_576, 1, 512 * 1_048_576);
  const floor = minBodyBytes(maxKeyBytes, maxValueBytes);
  const authToken = token(env, 'KV_AUTH_TOKEN');
  const readToken = token(env, 'KV_READ_TOKEN');
  if (authToken !== undefined && authToken === readToken) {
    throw new ConfigError('KV_READ_TOKEN must differ from KV_AUTH_TOKEN: one token cannot be both read-only and read-write');
  }
  return Object.freeze({
    host: host(env, 'KV_HOST', '127.0.0.1'),
    port: integer(env, 'KV_PORT', 8080, 0, 65_535),
    maxKeyBytes,
    maxValueBytes,
    maxBodyBytes: integer(env, 'KV_MAX_BODY_BYTES', floor, floor, Number.MAX_SAFE_INTEGER),
    maxKeys: integer(env, 'KV_MAX_KEYS', Number.POSITIVE_INFINITY, 1, Number.MAX_SAFE_INTEGER),
    maxMemoryBytes: integer(env, 'KV_MAX_MEMORY_BYTES', Number.POSITIVE_INFINITY, 1024, Number.MAX_SAFE_INTEGER),
    authToken,
    readToken,
    logLevel: oneOf(env, 'KV_LOG_LEVEL', LOG_LEVELS, 'info'),
    headersTimeoutMs: integer(env, 'KV_HEADERS_TIMEOUT_MS', 10_000, 100, 3_600_000),
    requestTimeoutMs: integer(env, 'KV_REQUEST_TIMEOUT_MS', 30_000, 100, 3_600_000),
    keepAliveTimeoutMs: integer(env, 'KV_KEEP_ALIVE_TIMEOUT_MS', 5_000, 100, 3_600_000),
    maxConnections: integer(env, 'KV_MAX_CONNECTIONS', 10_000, 1, 1_000_000),
    shutdownTimeoutMs: integer(env, 'KV_SHUTDOWN_TIMEOUT_MS', 8_000, 0, 3_600_000),
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

function token(env: Env, name: string): string | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  // Say what is wrong without echoing the secret.
  if (!/^[\x21-\x7e]+$/.test(value)) throw new ConfigError(`${name} must be printable ASCII without spaces`);
  if (value.length < 8) throw new ConfigError(`${name} must be at least 8 characters long`);
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
