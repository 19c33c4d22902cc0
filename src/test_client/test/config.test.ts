import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('loadConfig', () => {
  it('has the contract defaults', () => {
    expect(loadConfig({})).toEqual({
      host: '127.0.0.1',
      port: 8081,
      kvStoreUrl: 'http://127.0.0.1:8080',
      kvAuthToken: undefined,
      kvTimeoutMs: 2000,
      logLevel: 'info',
    });
  });

  it('reads every variable and returns a frozen object', () => {
    const config = loadConfig({
      TEST_CLIENT_HOST: '0.0.0.0',
      TEST_CLIENT_PORT: '9000',
      KV_STORE_URL: 'http://kv_store:8080/',
      KV_AUTH_TOKEN: 'secret-token',
      TEST_CLIENT_KV_TIMEOUT_MS: '500',
      TEST_CLIENT_LOG_LEVEL: 'debug',
    });
    expect(config).toEqual({
      host: '0.0.0.0',
      port: 9000,
      kvStoreUrl: 'http://kv_store:8080',
      kvAuthToken: 'secret-token',
      kvTimeoutMs: 500,
      logLevel: 'debug',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    [{ TEST_CLIENT_PORT: 'abc' }, "TEST_CLIENT_PORT must be a whole number, got 'abc'"],
    [{ TEST_CLIENT_PORT: '70000' }, 'TEST_CLIENT_PORT must be between 0 and 65535, got 70000'],
    [{ TEST_CLIENT_HOST: 'bad host' }, "TEST_CLIENT_HOST must be a host name or IP address, got 'bad host'"],
    [{ KV_STORE_URL: 'ftp://kv:8080' }, "KV_STORE_URL must be an http:// or https:// URL, got 'ftp://kv:8080'"],
    [{ KV_STORE_URL: 'kv_store:8080' }, "KV_STORE_URL must be a URL such as http://127.0.0.1:8080, got 'kv_store:8080'"],
    [{ KV_STORE_URL: 'not a url' }, "KV_STORE_URL must be a URL such as http://127.0.0.1:8080, got 'not a url'"],
    [{ KV_STORE_URL: 'http://user:pw@kv:8080' }, 'KV_STORE_URL must not contain credentials; set KV_AUTH_TOKEN instead'],
    [{ KV_STORE_URL: 'http://kv:8080/?a=1' }, "KV_STORE_URL must not have a query or fragment, got 'http://kv:8080/?a=1'"],
    [{ KV_AUTH_TOKEN: 'has space' }, 'KV_AUTH_TOKEN must be printable ASCII without spaces'],
    [{ TEST_CLIENT_KV_TIMEOUT_MS: '10' }, 'TEST_CLIENT_KV_TIMEOUT_MS must be between 100 and 60000, got 10'],
    [{ TEST_CLIENT_LOG_LEVEL: 'loud' }, "TEST_CLIENT_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got 'loud'"],
  ])('refuses %o naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(new ConfigError(message));
  });

  it('never echoes a bad token', () => {
    expect(() => loadConfig({ KV_AUTH_TOKEN: 'sec ret' })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('sec ret') }),
    );
  });
});
