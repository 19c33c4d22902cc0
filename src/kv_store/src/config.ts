import { accessSync, constants } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, type Env, host, integer, LOG_LEVELS, type LogLevel, oneOf, raw, token, unknownVariables } from '@kv/shared';
import { DEFAULT_BATCH_WAIT_MS } from './store/etcd/batch-wait.js';
import { FSYNC_POLICIES, type FsyncPolicy, RECOVERY_MODES, type RecoveryMode } from './store/durable/options.js';

/** The web UI's build beside kv_store's: src/ui/dist, from src/kv_store/dist (or src/kv_store/src in tests). */
const DEFAULT_UI_DIR = fileURLToPath(new URL('../../ui/dist/', import.meta.url));

export type { LogLevel };
export { ConfigError, LOG_LEVELS };

/** KV_CORS_ORIGINS: '*', or origins as browsers send them in Origin (https://app.example). */
export type CorsOrigins = '*' | readonly string[];

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
  /** KV_WARM_UP_MS: how long the warm-up runs after the server starts listening (0: none); /readyz waits for it. */
  readonly warmUpMs: number;
  /** Most checks and ops in one transaction (KV_MAX_TXN_OPS). */
  readonly maxTxnOps: number;
  /** Serve the web UI at /ui/ (KV_UI=on|off). */
  readonly ui: boolean;
  /** Where the web UI's build is (KV_UI_DIR). */
  readonly uiDir: string;
  /** Where the store lives: this process's memory, or an etcd cluster (KV_BACKEND). */
  readonly backend: 'memory' | 'etcd';
  /** How to reach etcd; set exactly when `backend` is 'etcd'. */
  readonly etcd: EtcdConfig | undefined;
  /** GET /metrics and the request metrics (KV_METRICS=on, the default), or neither (off). */
  readonly metrics: boolean;
  /** How long a listing's cursor lives after its last use. */
  readonly cursorTtlMs: number;
  /** Most listings whose snapshot is pinned for their cursors at once. */
  readonly maxCursors: number;
  /** Most revisions of change history kept for watchers. */
  readonly watchHistory: number;
  /** Most bytes of change history, by estimate. */
  readonly watchHistoryBytes: number;
  /** Most watchers (streams and waiting long-polls) at once. */
  readonly maxWatchers: number;
  /** A watch stream idle this long gets a progress event (at most this long apart). */
  readonly watchProgressMs: number;
  /** Bytes a watch stream's client may leave unread before it is cut off as a slow consumer. */
  readonly watchBufferBytes: number;
  /** Where the store keeps its log and snapshots; undefined: in memory only, nothing touches the disk. */
  readonly dataDir: string | undefined;
  /** When the log is fsynced (with dataDir). */
  readonly fsync: FsyncPolicy;
  /** What start-up does with damage inside the log (with dataDir). */
  readonly recovery: RecoveryMode;
  /** Log bytes since the last snapshot that start the next one (with dataDir). */
  readonly snapshotEveryBytes: number;
  /** Size at which a log segment is finished and the next begun (with dataDir). */
  readonly walSegmentBytes: number;
  /** A clean stop writes a snapshot when commits were logged since the last one (with dataDir). */
  readonly snapshotOnStop: boolean;
  /** Origins whose browser apps may call the API (CORS): '*', a list, or undefined (off). */
  readonly corsOrigins: CorsOrigins | undefined;
}

/** The etcd backend's settings (KV_ETCD_*). */
export interface EtcdConfig {
  /** Client URLs of etcd's members, http:// or https:// (KV_ETCD_ENDPOINTS). */
  readonly endpoints: readonly string[];
  /** Where this store's keys live in etcd (KV_ETCD_PREFIX): several stores can share a cluster. */
  readonly prefix: string;
  /** etcd user and password (KV_ETCD_USERNAME, KV_ETCD_PASSWORD), when etcd has auth enabled. */
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** PEM files for https endpoints: the CA to trust, a client certificate and its key. */
  readonly caFile: string | undefined;
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  /** How long, at most, a node's next batch of writes, or of consistent reads, waits for the clients the last one answered (KV_ETCD_BATCH_WAIT_MS). */
  readonly batchWaitMs: number;
}

/** Every variable kv_store reads, for the warning about unknown ones. */
export const VARIABLES = [
  'KV_HOST',
  'KV_PORT',
  'KV_MAX_KEY_BYTES',
  'KV_MAX_VALUE_BYTES',
  'KV_MAX_BODY_BYTES',
  'KV_MAX_KEYS',
  'KV_MAX_MEMORY_BYTES',
  'KV_AUTH_TOKEN',
  'KV_READ_TOKEN',
  'KV_LOG_LEVEL',
  'KV_HEADERS_TIMEOUT_MS',
  'KV_REQUEST_TIMEOUT_MS',
  'KV_KEEP_ALIVE_TIMEOUT_MS',
  'KV_MAX_CONNECTIONS',
  'KV_SHUTDOWN_TIMEOUT_MS',
  'KV_WARM_UP_MS',
  'KV_UI',
  'KV_UI_DIR',
  'KV_MAX_TXN_OPS',
  'KV_METRICS',
  'KV_CURSOR_TTL_MS',
  'KV_MAX_CURSORS',
  'KV_WATCH_HISTORY',
  'KV_WATCH_HISTORY_BYTES',
  'KV_MAX_WATCHERS',
  'KV_WATCH_PROGRESS_MS',
  'KV_WATCH_BUFFER_BYTES',
  'KV_BACKEND',
  'KV_ETCD_ENDPOINTS',
  'KV_ETCD_PREFIX',
  'KV_ETCD_USERNAME',
  'KV_ETCD_PASSWORD',
  'KV_ETCD_CA_FILE',
  'KV_ETCD_CERT_FILE',
  'KV_ETCD_KEY_FILE',
  'KV_ETCD_BATCH_WAIT_MS',
  'KV_DATA_DIR',
  'KV_FSYNC',
  'KV_RECOVERY',
  'KV_SNAPSHOT_EVERY_BYTES',
  'KV_WAL_SEGMENT_BYTES',
  'KV_SNAPSHOT_ON_STOP',
  'KV_CORS_ORIGINS',
];

const ETCD_VARIABLES = VARIABLES.filter((name) => name.startsWith('KV_ETCD_'));

/** The variables that mean something only with KV_DATA_DIR. */
const PERSISTENCE_VARIABLES = ['KV_FSYNC', 'KV_RECOVERY', 'KV_SNAPSHOT_EVERY_BYTES', 'KV_WAL_SEGMENT_BYTES', 'KV_SNAPSHOT_ON_STOP'];

/** Variables of the KV_ family that other programs read (test_client, kvctl), not typos. */
const OTHERS = ['KV_STORE_URL', 'KV_URL', 'KV_TOKEN'];

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
  const authToken = token(env, 'KV_AUTH_TOKEN', 8);
  const readToken = token(env, 'KV_READ_TOKEN', 8);
  if (authToken !== undefined && authToken === readToken) {
    throw new ConfigError('KV_READ_TOKEN must differ from KV_AUTH_TOKEN: one token cannot be both read-only and read-write');
  }
  const backend = oneOf(env, 'KV_BACKEND', ['memory', 'etcd'], 'memory');
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
    warmUpMs: integer(env, 'KV_WARM_UP_MS', 4_000, 0, 60_000),
    maxTxnOps: integer(env, 'KV_MAX_TXN_OPS', 128, 1, 100_000),
    ui: oneOf(env, 'KV_UI', ['on', 'off'], 'on') === 'on',
    uiDir: raw(env, 'KV_UI_DIR') ?? DEFAULT_UI_DIR,
    metrics: oneOf(env, 'KV_METRICS', ['on', 'off'], 'on') === 'on',
    cursorTtlMs: integer(env, 'KV_CURSOR_TTL_MS', 60_000, 1000, 3_600_000),
    maxCursors: integer(env, 'KV_MAX_CURSORS', 1000, 1, 1_000_000),
    watchHistory: integer(env, 'KV_WATCH_HISTORY', 10_000, 0, 10_000_000),
    watchHistoryBytes: integer(env, 'KV_WATCH_HISTORY_BYTES', 64 * 1_048_576, 0, Number.MAX_SAFE_INTEGER),
    maxWatchers: integer(env, 'KV_MAX_WATCHERS', 10_000, 1, 1_000_000),
    // The contract promises progress at least every 15 s to an idle watcher.
    watchProgressMs: integer(env, 'KV_WATCH_PROGRESS_MS', 15_000, 10, 15_000),
    watchBufferBytes: integer(env, 'KV_WATCH_BUFFER_BYTES', 1_048_576, 1024, 1_073_741_824),
    backend,
    etcd: backend === 'etcd' ? loadEtcdConfig(env) : noEtcdConfig(env),
    dataDir: dataDir(env, backend),
    fsync: oneOf(env, 'KV_FSYNC', FSYNC_POLICIES, 'always'),
    recovery: oneOf(env, 'KV_RECOVERY', RECOVERY_MODES, 'strict'),
    snapshotEveryBytes: integer(env, 'KV_SNAPSHOT_EVERY_BYTES', 64 * 1_048_576, 4096, Number.MAX_SAFE_INTEGER),
    walSegmentBytes: integer(env, 'KV_WAL_SEGMENT_BYTES', 64 * 1_048_576, 4096, 4 * 1024 * 1_048_576),
    snapshotOnStop: oneOf(env, 'KV_SNAPSHOT_ON_STOP', ['true', 'false'], 'true') === 'true',
    corsOrigins: corsOrigins(env),
  });
}

/** KV_DATA_DIR as an absolute path, so every message names the directory plainly; the memory backend's alone. */
function dataDir(env: Env, backend: 'memory' | 'etcd'): string | undefined {
  const value = raw(env, 'KV_DATA_DIR');
  if (value === undefined) return undefined;
  if (backend === 'etcd') throw new ConfigError('KV_DATA_DIR is set but KV_BACKEND is etcd: etcd keeps the data; unset KV_DATA_DIR');
  if (value.includes('\0')) throw new ConfigError('KV_DATA_DIR must be a directory path');
  return resolve(value);
}

/** KV_ETCD_*: the endpoints are required; credentials come in pairs; TLS files must be readable. */
function loadEtcdConfig(env: Env): EtcdConfig {
  const list = raw(env, 'KV_ETCD_ENDPOINTS');
  if (list === undefined) {
    throw new ConfigError(
      'KV_ETCD_ENDPOINTS must list the client URLs of etcd (comma-separated, e.g. http://127.0.0.1:2379,http://127.0.0.1:2381) when KV_BACKEND=etcd',
    );
  }
  const endpoints = list.split(',').map((item) => etcdEndpoint(item.trim()));
  const username = raw(env, 'KV_ETCD_USERNAME');
  const password = env.KV_ETCD_PASSWORD === undefined || env.KV_ETCD_PASSWORD === '' ? undefined : env.KV_ETCD_PASSWORD;
  if (password !== undefined && username === undefined) {
    throw new ConfigError('KV_ETCD_PASSWORD is set but KV_ETCD_USERNAME is not: etcd authenticates a user by name and password');
  }
  const caFile = readableFile(env, 'KV_ETCD_CA_FILE');
  const certFile = readableFile(env, 'KV_ETCD_CERT_FILE');
  const keyFile = readableFile(env, 'KV_ETCD_KEY_FILE');
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError(
      `${certFile === undefined ? 'KV_ETCD_KEY_FILE' : 'KV_ETCD_CERT_FILE'} is set without ${certFile === undefined ? 'KV_ETCD_CERT_FILE' : 'KV_ETCD_KEY_FILE'}: a client certificate needs its key`,
    );
  }
  const tlsFile = caFile !== undefined ? 'KV_ETCD_CA_FILE' : certFile !== undefined ? 'KV_ETCD_CERT_FILE' : undefined;
  if (tlsFile !== undefined && !endpoints.some((url) => url.startsWith('https://'))) {
    throw new ConfigError(`${tlsFile} is set but KV_ETCD_ENDPOINTS has no https:// endpoint to use it with`);
  }
  const prefix = env.KV_ETCD_PREFIX ?? 'kv/';
  if ([...prefix].some((c) => c < ' ' || c === '\x7f') || prefix.length > 256) {
    throw new ConfigError('KV_ETCD_PREFIX must be at most 256 characters without control characters');
  }
  const batchWaitMs = integer(env, 'KV_ETCD_BATCH_WAIT_MS', DEFAULT_BATCH_WAIT_MS, 0, 1000);
  return { endpoints, prefix, username, password, caFile, certFile, keyFile, batchWaitMs };
}

/** One endpoint of KV_ETCD_ENDPOINTS: an http(s) origin, without credentials or a path. */
function etcdEndpoint(item: string): string {
  let url: URL;
  try {
    url = new URL(item);
  } catch {
    throw new ConfigError(`KV_ETCD_ENDPOINTS must be comma-separated URLs such as http://127.0.0.1:2379, got '${item}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`KV_ETCD_ENDPOINTS must hold http:// or https:// URLs, got '${item}'`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new ConfigError('KV_ETCD_ENDPOINTS must not contain credentials; set KV_ETCD_USERNAME and KV_ETCD_PASSWORD instead');
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    throw new ConfigError(`KV_ETCD_ENDPOINTS must hold URLs without a path, such as http://127.0.0.1:2379, got '${item}'`);
  }
  return url.origin;
}

/** A file path that must be readable now (a TLS file). */
function readableFile(env: Env, name: string): string | undefined {
  const path = raw(env, name);
  if (path === undefined) return undefined;
  try {
    accessSync(path, constants.R_OK);
  } catch {
    throw new ConfigError(`${name} must name a readable file, got '${path}'`);
  }
  return path;
}

/** With the memory backend, a KV_ETCD_* variable is a mistake worth stopping for. */
function noEtcdConfig(env: Env): undefined {
  const set = ETCD_VARIABLES.find((name) => raw(env, name) !== undefined);
  if (set !== undefined) throw new ConfigError(`${set} is set but KV_BACKEND is memory; set KV_BACKEND=etcd to use etcd`);
  return undefined;
}

/**
 * KV_CORS_ORIGINS: '*', or origins separated by commas (`https://app.example.com,
 * http://localhost:5173`), kept as browsers send them in Origin (lower case, no default port);
 * undefined when unset.
 */
function corsOrigins(env: Env): CorsOrigins | undefined {
  const value = raw(env, 'KV_CORS_ORIGINS');
  if (value === undefined) return undefined;
  if (value === '*') return '*';
  const origins: string[] = [];
  for (const item of value.split(',')) {
    const text = item.trim();
    let url: URL | undefined;
    try {
      url = new URL(text);
    } catch {
      url = undefined;
    }
    const plain =
      url !== undefined &&
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      url.username === '' &&
      url.password === '' &&
      url.pathname === '/' &&
      !/[?#]/.test(text);
    if (url === undefined || !plain) {
      throw new ConfigError(
        `KV_CORS_ORIGINS must be * or origins separated by commas, such as https://app.example.com,http://localhost:5173; got '${text}'`,
      );
    }
    origins.push(url.origin);
  }
  return Object.freeze(origins);
}

/**
 * Warnings for KV_* variables that are set but unknown (typos such as KV_PROT), each naming the
 * closest known one, and for persistence settings that do nothing without KV_DATA_DIR.
 */
export function configWarnings(env: Env = process.env): string[] {
  const warnings = unknownVariables(env, ['KV_'], [...VARIABLES, ...OTHERS]);
  if (raw(env, 'KV_DATA_DIR') === undefined) {
    for (const name of PERSISTENCE_VARIABLES) {
      if (raw(env, name) !== undefined) warnings.push(`${name} has no effect without KV_DATA_DIR: the store is in memory only`);
    }
  }
  return warnings;
}
