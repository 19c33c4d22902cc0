import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { ConfigError, configWarnings, loadConfig, minBodyBytes } from '../src/config.js';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig(${JSON.stringify(env)}) did not throw`);
}

describe('loadConfig', () => {
  it('uses the documented defaults for an empty environment', () => {
    expect(loadConfig({})).toEqual({
      host: '127.0.0.1',
      port: 8080,
      maxKeyBytes: 512,
      maxValueBytes: 1_048_576,
      maxBodyBytes: minBodyBytes(512, 1_048_576),
      maxKeys: Number.POSITIVE_INFINITY,
      maxMemoryBytes: Number.POSITIVE_INFINITY,
      authToken: undefined,
      readToken: undefined,
      logLevel: 'info',
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
      maxConnections: 10_000,
      shutdownTimeoutMs: 8_000,
      warmUpMs: 4_000,
      maxTxnOps: 128,
      ui: true,
      // src/ui/dist beside kv_store's own folder (from src/kv_store/src here, from dist/ when built).
      uiDir: expect.stringMatching(/\/src\/ui\/dist\/$/),
      backend: 'memory',
      etcd: undefined,
      metrics: true,
      cursorTtlMs: 60_000,
      maxCursors: 1000,
      watchHistory: 10_000,
      watchHistoryBytes: 64 * 1_048_576,
      maxWatchers: 10_000,
      watchProgressMs: 15_000,
      watchBufferBytes: 1_048_576,
      dataDir: undefined,
      fsync: 'always',
      recovery: 'strict',
      snapshotEveryBytes: 64 * 1_048_576,
      walSegmentBytes: 64 * 1_048_576,
      snapshotOnStop: true,
      corsOrigins: undefined,
    });
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(loadConfig({}))).toBe(true);
  });

  it('reads every variable it documents', () => {
    const config = loadConfig({
      KV_HOST: '0.0.0.0',
      KV_PORT: '9090',
      KV_MAX_KEY_BYTES: '64',
      KV_MAX_VALUE_BYTES: '4096',
      KV_MAX_KEYS: '100',
      KV_MAX_MEMORY_BYTES: '65536',
      KV_AUTH_TOKEN: 'write-token-1',
      KV_READ_TOKEN: 'read-token-1',
      KV_LOG_LEVEL: 'debug',
      KV_MAX_TXN_OPS: '16',
      KV_UI: 'off',
      KV_UI_DIR: '/srv/kv-ui',
      KV_METRICS: 'off',
      KV_CURSOR_TTL_MS: '5000',
      KV_MAX_CURSORS: '7',
      KV_WATCH_HISTORY: '0',
      KV_WATCH_HISTORY_BYTES: '65536',
      KV_MAX_WATCHERS: '3',
      KV_WATCH_PROGRESS_MS: '250',
      KV_WATCH_BUFFER_BYTES: '4096',
      KV_WARM_UP_MS: '0',
    });
    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 9090,
      maxKeyBytes: 64,
      maxValueBytes: 4096,
      maxBodyBytes: minBodyBytes(64, 4096),
      maxKeys: 100,
      maxMemoryBytes: 65_536,
      authToken: 'write-token-1',
      readToken: 'read-token-1',
      logLevel: 'debug',
      maxTxnOps: 16,
      ui: false,
      uiDir: '/srv/kv-ui',
      metrics: false,
      cursorTtlMs: 5000,
      maxCursors: 7,
      watchHistory: 0,
      watchHistoryBytes: 65_536,
      maxWatchers: 3,
      watchProgressMs: 250,
      watchBufferBytes: 4096,
      warmUpMs: 0,
    });
  });

  it('warns about KV_* variables it does not know, naming the closest one (issue 16)', () => {
    expect(configWarnings({ KV_PROT: '9090', KV_PORT: '1', KV_STORE_URL: 'http://x', HOME: '/root', KV_ZZZZZZZZZZZ: '1' })).toEqual([
      'KV_PROT is not a known variable and is ignored; did you mean KV_PORT?',
      'KV_ZZZZZZZZZZZ is not a known variable and is ignored',
    ]);
    expect(configWarnings({ KV_MAX_KEY: '5' })).toEqual(['KV_MAX_KEY is not a known variable and is ignored; did you mean KV_MAX_KEYS?']);
  });

  it('treats empty and blank values as unset, and trims numbers', () => {
    expect(loadConfig({ KV_PORT: '', KV_HOST: '   ', KV_AUTH_TOKEN: '' })).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      authToken: undefined,
    });
    expect(loadConfig({ KV_PORT: ' 8081 ' }).port).toBe(8081);
  });

  it('accepts port 0 (any free port)', () => {
    expect(loadConfig({ KV_PORT: '0' }).port).toBe(0);
  });

  it('leaves the body limit room for the largest key (6 bytes each when escaped) and value', () => {
    expect(minBodyBytes(512, 1_048_576)).toBe(1_048_576 + 6 * 512 + 1024);
    expect(loadConfig({ KV_MAX_BODY_BYTES: String(minBodyBytes(512, 1_048_576) + 1) }).maxBodyBytes).toBe(minBodyBytes(512, 1_048_576) + 1);
  });

  describe('a bad value throws ConfigError naming the variable', () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ['KV_HOST', 'bad host!'],
      ['KV_HOST', 'http://x'],
      ['KV_PORT', 'http'],
      ['KV_PORT', '65536'],
      ['KV_PORT', '-1'],
      ['KV_PORT', '80.5'],
      ['KV_PORT', '1e3'],
      ['KV_MAX_KEY_BYTES', '0'],
      ['KV_MAX_KEY_BYTES', 'big'],
      ['KV_MAX_KEY_BYTES', '65537'],
      ['KV_MAX_VALUE_BYTES', '0'],
      ['KV_MAX_VALUE_BYTES', '1MiB'],
      ['KV_MAX_BODY_BYTES', '100'],
      ['KV_MAX_KEYS', '0'],
      ['KV_MAX_KEYS', 'ten'],
      ['KV_MAX_MEMORY_BYTES', '1023'],
      ['KV_MAX_MEMORY_BYTES', '1GB'],
      ['KV_LOG_LEVEL', 'loud'],
      ['KV_HEADERS_TIMEOUT_MS', '1'],
      ['KV_REQUEST_TIMEOUT_MS', 'soon'],
      ['KV_KEEP_ALIVE_TIMEOUT_MS', '99'],
      ['KV_MAX_CONNECTIONS', '0'],
      ['KV_SHUTDOWN_TIMEOUT_MS', '-5'],
      ['KV_WARM_UP_MS', '-1'],
      ['KV_WARM_UP_MS', '60001'],
      ['KV_WARM_UP_MS', '2s'],
      ['KV_METRICS', 'yes'],
      ['KV_CURSOR_TTL_MS', '999'],
      ['KV_MAX_CURSORS', '0'],
      ['KV_WATCH_HISTORY', 'all'],
      ['KV_WATCH_HISTORY_BYTES', '64MiB'],
      ['KV_MAX_WATCHERS', '0'],
      ['KV_WATCH_PROGRESS_MS', '15001'],
      ['KV_WATCH_BUFFER_BYTES', '1023'],
      ['KV_FSYNC', 'sometimes'],
      ['KV_RECOVERY', 'guess'],
      ['KV_SNAPSHOT_EVERY_BYTES', '1000'],
      ['KV_WAL_SEGMENT_BYTES', '64MiB'],
      ['KV_SNAPSHOT_ON_STOP', 'yes'],
      ['KV_CORS_ORIGINS', 'app.example.com'],
      ['KV_CORS_ORIGINS', 'https://app.example.com/path'],
      ['KV_CORS_ORIGINS', 'https://app.example.com?x=1'],
      ['KV_CORS_ORIGINS', 'https://user:pw@app.example.com'],
      ['KV_CORS_ORIGINS', 'ftp://files.example.com'],
      ['KV_CORS_ORIGINS', '*,https://app.example.com'],
      ['KV_CORS_ORIGINS', 'https://app.example.com,'],
      ['KV_CORS_ORIGINS', 'null'],
    ];
    for (const [name, value] of cases) {
      it(`${name}=${JSON.stringify(value)}`, () => {
        const err = configError({ [name]: value });
        expect(err.name).toBe('ConfigError');
        expect(err.message.startsWith(`${name} `)).toBe(true);
      });
    }
  });

  describe('the etcd backend (KV_BACKEND=etcd)', () => {
    const etcd = { KV_BACKEND: 'etcd', KV_ETCD_ENDPOINTS: 'http://127.0.0.1:2379, http://10.0.0.2:2379/' };

    it('reads the endpoints (trimmed, without a trailing slash) and defaults the prefix to kv/', () => {
      expect(loadConfig(etcd)).toMatchObject({
        backend: 'etcd',
        etcd: {
          endpoints: ['http://127.0.0.1:2379', 'http://10.0.0.2:2379'],
          prefix: 'kv/',
          username: undefined,
          password: undefined,
          caFile: undefined,
          certFile: undefined,
          keyFile: undefined,
          batchWaitMs: 5,
        },
      });
    });

    it('reads the prefix, the credentials and the TLS files', () => {
      const file = fileURLToPath(import.meta.url);
      const config = loadConfig({
        KV_BACKEND: 'etcd',
        KV_ETCD_ENDPOINTS: 'https://etcd-1:2379',
        KV_ETCD_PREFIX: 'stores/a/',
        KV_ETCD_USERNAME: 'kv',
        KV_ETCD_PASSWORD: 'secret words',
        KV_ETCD_CA_FILE: file,
        KV_ETCD_CERT_FILE: file,
        KV_ETCD_KEY_FILE: file,
        KV_ETCD_BATCH_WAIT_MS: '0',
      });
      expect(config.etcd).toEqual({
        endpoints: ['https://etcd-1:2379'],
        prefix: 'stores/a/',
        username: 'kv',
        password: 'secret words',
        caFile: file,
        certFile: file,
        keyFile: file,
        batchWaitMs: 0,
      });
    });

    const refused: ReadonlyArray<readonly [string, Record<string, string>, string]> = [
      ['KV_BACKEND', { KV_BACKEND: 'redis' }, "KV_BACKEND must be one of memory, etcd, got 'redis'"],
      ['KV_ETCD_ENDPOINTS', { KV_BACKEND: 'etcd' }, 'KV_ETCD_ENDPOINTS must list the client URLs of etcd'],
      [
        'KV_ETCD_ENDPOINTS',
        { ...etcd, KV_ETCD_ENDPOINTS: 'unix:///run/etcd.sock' },
        'KV_ETCD_ENDPOINTS must hold http:// or https:// URLs',
      ],
      ['KV_ETCD_ENDPOINTS', { ...etcd, KV_ETCD_ENDPOINTS: 'http://a:1,,http://b:2' }, 'KV_ETCD_ENDPOINTS must be comma-separated URLs'],
      ['KV_ETCD_ENDPOINTS', { ...etcd, KV_ETCD_ENDPOINTS: 'http://u:p@a:2379' }, 'KV_ETCD_ENDPOINTS must not contain credentials'],
      ['KV_ETCD_ENDPOINTS', { ...etcd, KV_ETCD_ENDPOINTS: 'http://a:2379/v3' }, 'KV_ETCD_ENDPOINTS must hold URLs without a path'],
      ['KV_ETCD_PASSWORD', { ...etcd, KV_ETCD_PASSWORD: 'pw' }, 'KV_ETCD_PASSWORD is set but KV_ETCD_USERNAME is not'],
      ['KV_ETCD_BATCH_WAIT_MS', { ...etcd, KV_ETCD_BATCH_WAIT_MS: '1001' }, 'KV_ETCD_BATCH_WAIT_MS must be between 0 and 1000, got 1001'],
      [
        'KV_ETCD_CA_FILE',
        { ...etcd, KV_ETCD_CA_FILE: '/nonexistent/ca.pem' },
        "KV_ETCD_CA_FILE must name a readable file, got '/nonexistent/ca.pem'",
      ],
      [
        'KV_ETCD_CA_FILE',
        { ...etcd, KV_ETCD_CA_FILE: fileURLToPath(import.meta.url) },
        'KV_ETCD_CA_FILE is set but KV_ETCD_ENDPOINTS has no https:// endpoint',
      ],
      [
        'KV_ETCD_KEY_FILE',
        { ...etcd, KV_ETCD_KEY_FILE: fileURLToPath(import.meta.url) },
        'KV_ETCD_KEY_FILE is set without KV_ETCD_CERT_FILE',
      ],
      ['KV_ETCD_PREFIX', { ...etcd, KV_ETCD_PREFIX: 'a\nb' }, 'KV_ETCD_PREFIX must be at most 256 characters without control characters'],
      ['KV_ETCD_ENDPOINTS', { KV_ETCD_ENDPOINTS: 'http://127.0.0.1:2379' }, 'KV_ETCD_ENDPOINTS is set but KV_BACKEND is memory'],
    ];
    for (const [name, env, message] of refused) {
      it(`refuses ${JSON.stringify(env)} naming ${name}`, () => {
        const err = configError(env);
        expect(err.message.startsWith(`${name} `)).toBe(true);
        expect(err.message).toContain(message);
      });
    }

    it('never echoes the password', () => {
      const err = configError({ ...etcd, KV_ETCD_PASSWORD: 'hunter2-secret' });
      expect(err.message).not.toContain('hunter2-secret');
    });

    it('knows every KV_ETCD_* variable (no warning for them)', () => {
      expect(configWarnings({ KV_BACKEND: 'etcd', KV_ETCD_ENDPOINTS: 'x', KV_ETCD_PREFIX: 'p/', KV_ETCD_CA_FILE: 'f' })).toEqual([]);
      expect(configWarnings({ KV_ETCD_ENDPOINT: 'x' })).toEqual([
        'KV_ETCD_ENDPOINT is not a known variable and is ignored; did you mean KV_ETCD_ENDPOINTS?',
      ]);
    });
  });

  describe('KV_CORS_ORIGINS', () => {
    it('is off when unset or blank, * for any origin, else the origins as browsers send them', () => {
      expect(loadConfig({}).corsOrigins).toBeUndefined();
      expect(loadConfig({ KV_CORS_ORIGINS: '  ' }).corsOrigins).toBeUndefined();
      expect(loadConfig({ KV_CORS_ORIGINS: ' * ' }).corsOrigins).toBe('*');
      expect(loadConfig({ KV_CORS_ORIGINS: 'https://App.Example.com:443/, http://localhost:5173' }).corsOrigins).toEqual([
        'https://app.example.com',
        'http://localhost:5173',
      ]);
    });

    it('refuses anything but origins, with a message that shows one', () => {
      expect(configError({ KV_CORS_ORIGINS: 'https://app.example.com/app' }).message).toBe(
        "KV_CORS_ORIGINS must be * or origins separated by commas, such as https://app.example.com,http://localhost:5173; got 'https://app.example.com/app'",
      );
    });
  });

  describe('configWarnings', () => {
    it("names the closest known variable for a misspelt KV_ one, and leaves the other programs' variables alone", () => {
      expect(configWarnings({ KV_PROT: '9090', KV_CORS_ORIGIN: '*', KV_STORE_URL: 'http://x', KV_PORT: '1', PATH: '/bin' })).toEqual([
        'KV_CORS_ORIGIN is not a known variable and is ignored; did you mean KV_CORS_ORIGINS?',
        'KV_PROT is not a known variable and is ignored; did you mean KV_PORT?',
      ]);
    });
  });

  describe('tokens', () => {
    it('a short token is refused, naming the variable but not echoing the secret', () => {
      for (const name of ['KV_AUTH_TOKEN', 'KV_READ_TOKEN']) {
        const err = configError({ [name]: 'secret7' });
        expect(err.message).toBe(`${name} must be at least 8 characters long`);
      }
    });

    it('a token with spaces or non-ASCII characters is refused without echoing it', () => {
      for (const value of ['has a space1', 'tökenvalue', 'tab\there-long']) {
        const err = configError({ KV_AUTH_TOKEN: value });
        expect(err.message).toBe('KV_AUTH_TOKEN must be printable ASCII without spaces');
        expect(err.message).not.toContain(value);
      }
    });

    it('the read-only token must differ from the read-write token', () => {
      const err = configError({ KV_AUTH_TOKEN: 'same-token', KV_READ_TOKEN: 'same-token' });
      expect(err.message).toContain('KV_READ_TOKEN');
      expect(err.message).not.toContain('same-token');
    });

    it('either token may be set alone', () => {
      expect(loadConfig({ KV_READ_TOKEN: 'read-only-token' })).toMatchObject({ authToken: undefined, readToken: 'read-only-token' });
      expect(loadConfig({ KV_AUTH_TOKEN: 'read-write-token' })).toMatchObject({ authToken: 'read-write-token', readToken: undefined });
    });
  });

  describe('persistence', () => {
    it('KV_DATA_DIR turns it on, as an absolute path; the other settings are read with it', () => {
      expect(
        loadConfig({
          KV_DATA_DIR: 'data/kv',
          KV_FSYNC: 'everysec',
          KV_RECOVERY: 'truncate',
          KV_SNAPSHOT_EVERY_BYTES: '1048576',
          KV_WAL_SEGMENT_BYTES: '8192',
          KV_SNAPSHOT_ON_STOP: 'false',
        }),
      ).toMatchObject({
        dataDir: resolve('data/kv'),
        fsync: 'everysec',
        recovery: 'truncate',
        snapshotEveryBytes: 1_048_576,
        walSegmentBytes: 8192,
        snapshotOnStop: false,
      });
      expect(loadConfig({ KV_DATA_DIR: '/var/lib/kv' }).dataDir).toBe('/var/lib/kv');
      expect(loadConfig({ KV_DATA_DIR: '  ' }).dataDir).toBeUndefined();
    });

    it('KV_DATA_DIR with KV_BACKEND=etcd is refused: etcd keeps the data', () => {
      expect(configError({ KV_BACKEND: 'etcd', KV_ETCD_ENDPOINTS: 'http://127.0.0.1:2379', KV_DATA_DIR: '/data' }).message).toBe(
        'KV_DATA_DIR is set but KV_BACKEND is etcd: etcd keeps the data; unset KV_DATA_DIR',
      );
    });

    it('a persistence setting without KV_DATA_DIR is warned about: the store stays in memory', () => {
      expect(configWarnings({ KV_FSYNC: 'no', KV_RECOVERY: 'truncate' })).toEqual([
        'KV_FSYNC has no effect without KV_DATA_DIR: the store is in memory only',
        'KV_RECOVERY has no effect without KV_DATA_DIR: the store is in memory only',
      ]);
      expect(configWarnings({ KV_DATA_DIR: '/data', KV_FSYNC: 'no' })).toEqual([]);
    });
  });
});
