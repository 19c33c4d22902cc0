import type { AddressInfo } from 'node:net';
import { expect, onTestFinished } from 'vitest';
import { type App, buildApp } from '../src/app.js';
import type { Clock } from '../src/clock.js';
import { loadConfig } from '../src/config.js';
import type { MaybePromise } from '../src/store/store.js';
import { type ApiCall, type ApiResponse, callApi } from './support/call-api.js';

/** A result the memory engine gives at once (it has no journal): the value itself, never a promise. */
export function sync<T>(result: MaybePromise<T>): T {
  if (result instanceof Promise) throw new Error('expected a synchronous result from the memory engine');
  return result;
}

/** 2026-11-27T10:00:00.000Z: where every fake clock starts. */
export const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);

/** A clock that moves only when a test moves it, so TTL tests never sleep. */
export class FakeClock implements Clock {
  constructor(public time = T0) {}

  now(): number {
    return this.time;
  }

  advance(ms: number): void {
    this.time += ms;
  }
}

/** The ISO time `ms` milliseconds after T0, as entries show it. */
export function iso(ms = 0): string {
  return new Date(T0 + ms).toISOString();
}

export const JSON_TYPE = 'application/json; charset=utf-8';
export const JSON_HEADERS = { 'content-type': 'application/json' } as const;

/** kv_store in-process with a fake clock; closed when the test finishes. */
export interface TestApp {
  readonly app: App;
  readonly clock: FakeClock;
  inject(call: ApiCall): Promise<ApiResponse>;
  /** POST /v1/ with a JSON body (a string is sent as is). */
  post(body: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  get(path: string, headers?: Record<string, string>): Promise<ApiResponse>;
  head(path: string, headers?: Record<string, string>): Promise<ApiResponse>;
  put(path: string, body: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  delete(path: string, headers?: Record<string, string>): Promise<ApiResponse>;
}

/** Builds kv_store from `env` (logging silenced) with a fake clock; its API is called directly, through its door. Call inside a test. */
export function testApp(env: Record<string, string> = {}, clock = new FakeClock()): TestApp {
  const app = buildApp({ config: loadConfig({ KV_LOG_LEVEL: 'silent', ...env }), clock });
  onTestFinished(() => app.close());
  const run = (call: ApiCall): Promise<ApiResponse> => callApi(app.door, call);
  const payload = (body: unknown): string => (typeof body === 'string' ? body : JSON.stringify(body));
  return {
    app,
    clock,
    inject: run,
    post: (body, headers = {}) => run({ method: 'POST', url: '/v1/', headers: { ...JSON_HEADERS, ...headers }, payload: payload(body) }),
    get: (path, headers = {}) => run({ method: 'GET', url: path, headers }),
    head: (path, headers = {}) => run({ method: 'HEAD', url: path, headers }),
    put: (path, body, headers = {}) => run({ method: 'PUT', url: path, headers: { ...JSON_HEADERS, ...headers }, payload: payload(body) }),
    delete: (path, headers = {}) => run({ method: 'DELETE', url: path, headers }),
  };
}

/** The contract's entry, as JSON.parse sees it. Times are offsets from T0 in ms. */
export function entry(fields: {
  key: string;
  value: unknown;
  version: number;
  revision: number;
  created?: number;
  updated?: number;
  expires?: number | null;
}): Record<string, unknown> {
  const created = fields.created ?? 0;
  const expires = fields.expires ?? null;
  return {
    key: fields.key,
    value: fields.value,
    version: fields.version,
    revision: fields.revision,
    createdAt: iso(created),
    updatedAt: iso(fields.updated ?? created),
    expiresAt: expires === null ? null : iso(expires),
  };
}

/** Asserts a JSON entry answer: status, Content-Type, ETag and the exact body. */
export function expectEntry(res: ApiResponse, status: number, body: Record<string, unknown>): void {
  expect({ status: res.statusCode, body: res.json() }).toEqual({ status, body });
  expect(res.headers['content-type']).toBe(JSON_TYPE);
  expect(res.headers.etag).toBe(`"${body.revision as number}"`);
}

/** Asserts an error answer: status, Content-Type and the exact `{"error": {code, message}}` body. */
export function expectError(res: ApiResponse, status: number, code: string, message: unknown): void {
  expect({ status: res.statusCode, body: res.json() }).toEqual({ status, body: { error: { code, message } } });
  expect(res.headers['content-type']).toBe(JSON_TYPE);
}

/** Starts `app.server` on an ephemeral port of 127.0.0.1; stopped when the test finishes. */
export async function listen(app: App): Promise<string> {
  const { server } = app;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}
