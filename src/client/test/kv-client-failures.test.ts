import { afterEach, describe, expect, it } from 'vitest';
import { KvClient, KvError, KvUnreachableError, parseJsonBody } from '../src/index.js';
import { closedPortUrl, type FakeServer, startFakeServer } from './fake-servers.js';

const servers: FakeServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(handler: Parameters<typeof startFakeServer>[0]): Promise<string> {
  const server = await startFakeServer(handler);
  servers.push(server);
  return server.url;
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
}

describe('KvClient when kv_store cannot be used', () => {
  it('a closed port is KvUnreachableError (network) naming the URL', async () => {
    const url = await closedPortUrl();
    const err = await failure(new KvClient({ baseUrl: url, timeoutMs: 20_000 }).get('foo'));
    expect(err).toBeInstanceOf(KvUnreachableError);
    expect(err).toMatchObject({ reason: 'network', url: `${url}/v1/foo` });
    expect((err as Error).message).toContain(`${url}/v1/foo`);
    expect((err as Error).message).toContain('ECONNREFUSED');
  });

  it('a store that never answers is KvUnreachableError (timeout) naming the URL and the limit', async () => {
    const url = await serve(() => {
      // Never answers.
    });
    const err = await failure(new KvClient({ baseUrl: url, timeoutMs: 200 }).health());
    expect(err).toMatchObject({ name: 'KvUnreachableError', reason: 'timeout', url: `${url}/healthz` });
    expect((err as Error).message).toBe(`kv_store at ${url}/healthz did not answer GET within 200 ms`);
  });

  it('a body that is not JSON is KvUnreachableError (invalid_response) quoting the start of it', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>Welcome to nginx!</body></html>');
    });
    const client = new KvClient({ baseUrl: url });
    const err = await failure(client.get('foo'));
    expect(err).toMatchObject({ name: 'KvUnreachableError', reason: 'invalid_response', url: `${url}/v1/foo` });
    expect((err as Error).message).toContain('<html><body>Welcome to nginx!');

    const raw = await client.request({ method: 'GET', path: '/v1/foo' });
    expect(raw).toMatchObject({ status: 200, text: '<html><body>Welcome to nginx!</body></html>' });
    expect(() => parseJsonBody(raw, 'GET')).toThrow(KvUnreachableError);
  });

  it('a 2xx whose JSON is not an entry is invalid_response, listing what is missing', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', etag: '"1"' });
      res.end('{}');
    });
    const err = await failure(new KvClient({ baseUrl: url }).get('foo'));
    expect(err).toMatchObject({ reason: 'invalid_response' });
    expect((err as Error).message).toContain("'key' is not a string");
    expect((err as Error).message).toContain("'version' is not a whole number >= 1");
  });

  it('an error status without the contract error body is invalid_response, not KvError', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"oops":true}');
    });
    const err = await failure(new KvClient({ baseUrl: url }).delete('foo'));
    expect(err).toMatchObject({ name: 'KvUnreachableError', reason: 'invalid_response' });
    expect((err as Error).message).toContain('500');
  });

  it('an error status with the contract error body is KvError with status, code and message', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(507, { 'content-type': 'application/json' });
      res.end('{"error":{"code":"insufficient_storage","message":"full"}}');
    });
    const err = await failure(new KvClient({ baseUrl: url }).create('foo', 1));
    expect(err).toBeInstanceOf(KvError);
    expect(err).toMatchObject({ status: 507, code: 'insufficient_storage', message: 'full' });
  });

  it('a created entry without Location is invalid_response', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json', etag: '"1"' });
      res.end(
        '{"key":"foo","value":1,"version":1,"revision":1,"createdAt":"2026-01-01T00:00:00.000Z","updatedAt":"2026-01-01T00:00:00.000Z","expiresAt":null}',
      );
    });
    const err = await failure(new KvClient({ baseUrl: url }).create('foo', 1));
    expect(err).toMatchObject({ reason: 'invalid_response' });
    expect((err as Error).message).toContain('Location');
  });

  it('a base URL that is not http(s) is refused at construction', () => {
    expect(() => new KvClient({ baseUrl: 'kv_store:8080' })).toThrow(/baseUrl must be an http/);
    expect(() => new KvClient({ baseUrl: 'ftp://x' })).toThrow(/baseUrl must be an http/);
    expect(() => new KvClient({ baseUrl: 'http://x', timeoutMs: 0 })).toThrow(/timeoutMs/);
  });
});
