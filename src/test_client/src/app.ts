import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { KvClient } from '@kv/client';
import type { Config } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { sendError, sendJson } from './respond.js';
import { httpStatusOf, type TestReport, type TestStatus } from './run/report.js';
import { runTest } from './run/run-test.js';
import type { Scenario } from './run/scenario.js';
import { SCENARIOS } from './scenarios/index.js';

/** What buildApp needs: the configuration, and optionally a logger and a fetch to use. */
export interface AppOptions {
  readonly config: Config;
  readonly logger?: Logger;
  /** The fetch the kv_store client uses; the global one by default. */
  readonly fetch?: typeof globalThis.fetch;
}

/** A built test_client. */
export interface App {
  /** The request handler, for in-process tests or any http.Server. */
  readonly handler: RequestListener;
  /** An http.Server using the handler, not yet listening. */
  readonly server: Server;
  readonly logger: Logger;
}

type Route = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

interface Endpoint {
  readonly methods: readonly string[];
  readonly description: string;
  readonly route: Route;
}

const HEALTH_BODY = { status: 'ok' };

/** Builds test_client: its routes over a kv_store client, and a server that is not yet listening. */
export function buildApp(options: AppOptions): App {
  const { config } = options;
  const logger = options.logger ?? createLogger(config.logLevel);
  const client = new KvClient({
    baseUrl: config.kvStoreUrl,
    timeoutMs: config.kvTimeoutMs,
    token: config.kvAuthToken,
    fetch: options.fetch,
  });
  const deps = { client, logger };

  const endpoints = new Map<string, Endpoint>();
  for (const scenario of SCENARIOS) {
    endpoints.set(`/${scenario.name}`, { methods: ['GET'], description: scenario.description, route: runOne(scenario) });
  }
  endpoints.set('/test_all', {
    methods: ['GET'],
    description: 'run every test in turn; 200 only if all passed, else 500 (a check failed) or 502 (kv_store unusable)',
    route: runAll,
  });
  endpoints.set('/healthz', { methods: ['GET', 'HEAD'], description: 'test_client is up (does not touch kv_store)', route: health });
  endpoints.set('/', { methods: ['GET', 'HEAD'], description: 'this list', route: list });

  function runOne(scenario: Scenario): Route {
    return async (_req, res) => {
      const report = await runTest(scenario, deps);
      sendJson(res, httpStatusOf(report.status), report, true);
    };
  }

  async function runAll(_req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const results: TestReport[] = [];
    for (const scenario of SCENARIOS) results.push(await runTest(scenario, deps));
    const status = overall(results.map((r) => r.status));
    const durationMs = Math.round(performance.now() - started);
    const failing = results.filter((r) => r.status !== 'passed').map((r) => `${r.test}: ${r.error ?? r.status}`);
    sendJson(
      res,
      httpStatusOf(status),
      {
        test: 'test_all',
        status,
        durationMs,
        kvStoreUrl: config.kvStoreUrl,
        ...(failing.length > 0 ? { error: failing.join(' | ') } : {}),
        results,
      },
      true,
    );
  }

  function health(_req: IncomingMessage, res: ServerResponse): void {
    sendJson(res, 200, HEALTH_BODY);
  }

  function list(_req: IncomingMessage, res: ServerResponse): void {
    sendJson(
      res,
      200,
      {
        service: 'test_client',
        kvStoreUrl: config.kvStoreUrl,
        tests: SCENARIOS.map((s) => ({ name: s.name, path: `/${s.name}`, description: s.description })),
        endpoints: [...endpoints].map(([path, e]) => ({ methods: e.methods, path, description: e.description })),
      },
      true,
    );
  }

  async function dispatch(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const endpoint = endpoints.get(path);
    if (endpoint === undefined) {
      sendError(res, 404, 'not_found', `no resource at '${path}'; GET / lists the tests`);
      return;
    }
    const method = req.method ?? '';
    if (!endpoint.methods.includes(method)) {
      const allow = endpoint.methods.join(', ');
      sendError(res, 405, 'method_not_allowed', `method ${method} is not allowed here; allowed: ${allow}`, { allow });
      return;
    }
    await endpoint.route(req, res);
  }

  const handler: RequestListener = (req, res) => {
    const started = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    res.once('finish', () => {
      const line = { method: req.method, url, status: res.statusCode, durationMs: Math.round(performance.now() - started) };
      // Health probes come every few seconds; keep them out of `make logs` unless asked.
      if (path === '/healthz') logger.debug(line, 'request');
      else logger.info(line, 'request');
    });
    dispatch(req, res, path).catch((err: unknown) => {
      logger.error({ err, method: req.method, url }, 'request failed');
      if (!res.headersSent) sendError(res, 500, 'internal', 'internal error');
      else res.destroy();
    });
  };

  const server = createServer(handler);
  return { handler, server, logger };
}

function overall(statuses: readonly TestStatus[]): TestStatus {
  if (statuses.includes('error')) return 'error';
  if (statuses.includes('failed')) return 'failed';
  return 'passed';
}
