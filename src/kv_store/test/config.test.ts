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
      maxTxnOps: 128,
      ui: true,
      // src/ui/dist beside kv_store's own folder (from src/kv_store/src here, from dist/ when built).
      uiDir: expect.stringMatching(/\/src\/ui\/dist\/$/),
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
    ];
    for (const [name, value] of cases) {
      it(`${name}=${JSON.stringify(value)}`, () => {
        const err = configError({ [name]: value });
        expect(err.name).toBe('ConfigError');
        expect(err.message.startsWith(`${name} `)).toBe(true);
      });
    }
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
        }),
      ).toMatchObject({
        dataDir: resolve('data/kv'),
        fsync: 'everysec',
        recovery: 'truncate',
        snapshotEveryBytes: 1_048_576,
        walSegmentBytes: 8192,
      });
      expect(loadConfig({ KV_DATA_DIR: '/var/lib/kv' }).dataDir).toBe('/var/lib/kv');
      expect(loadConfig({ KV_DATA_DIR: '  ' }).dataDir).toBeUndefined();
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
