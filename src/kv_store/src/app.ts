import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { type Api, createApi, type RequestHead } from './api.js';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import { HttpError } from './errors.js';
import { type Answer, errorAnswer, JSON_TYPE } from './http/answer.js';
import { readBody } from './http/read-body.js';
import { WireServer } from './http/wire-server.js';
import { createLogger, type Logger } from './logger.js';
import { MemoryStore } from './store/memory-store.js';
import { SweepScheduler } from './sweep-scheduler.js';

export interface AppOptions {
  readonly config: Config;
  readonly logger?: Logger;
  readonly clock?: Clock;
}

export interface App {
  /** The API as a node:http request listener, for in-process tests (light-my-request) and embedding. */
  readonly handler: RequestListener;
  /** kv_store's HTTP/1.1 server with the configured timeouts and limits, not yet listening. */
  readonly server: WireServer;
  readonly store: MemoryStore;
  readonly logger: Logger;
  /** From now on every answer says Connection: close, so clients stop reusing connections (shutdown). */
  drain(): void;
  /** Stops the expiry sweeper. The server is closed by its owner. */
  close(): void;
}

/** Builds kv_store: the store, the HTTP API, and a server that is not yet listening. */
export function buildApp(options: AppOptions): App {
  const { config } = options;
  const logger = options.logger ?? createLogger(config.logLevel);
  const store = new MemoryStore({
    clock: options.clock ?? { now: () => Date.now() },
    limits: { maxKeys: config.maxKeys, maxMemoryBytes: config.maxMemoryBytes },
  });
  const sweeper = new SweepScheduler(store);
  const api = createApi(config, store, logger);
  const accessLog = logger.isLevelEnabled('debug');

  const server = new WireServer(api, {
    headersTimeoutMs: config.headersTimeoutMs,
    requestTimeoutMs: config.requestTimeoutMs,
    keepAliveTimeoutMs: config.keepAliveTimeoutMs,
    maxConnections: config.maxConnections,
    onAnswer: accessLog
      ? (head, status, startedAt) => logger.debug({ method: head.method, url: head.target, status, ms: Date.now() - startedAt }, 'request')
      : undefined,
    onError: (err) => logger.error({ err }, 'request failed'),
  });
  sweeper.start();

  return {
    handler: nodeHandler(api, logger, accessLog),
    server,
    store,
    logger,
    drain: () => server.drain(),
    close: () => sweeper.stop(),
  };
}

/** The API on node:http's request and response objects. */
function nodeHandler(api: Api, logger: Logger, accessLog: boolean): RequestListener {
  return (req, res) => {
    const start = Date.now();
    const head: RequestHead = { method: req.method ?? '', target: req.url ?? '/', headers: req.headers };
    const send = (answer: Answer): void => {
      if (res.headersSent || res.destroyed) return;
      writeAnswer(req, res, answer);
      if (accessLog) logger.debug({ method: head.method, url: head.target, status: answer.status, ms: Date.now() - start }, 'request');
    };
    const begun = api.begin(head);
    if (typeof begun !== 'function') {
      send(begun);
      return;
    }
    readBody(req, api.maxBodyBytes).then(
      (body) => send(begun(body)),
      (err: unknown) => {
        if (err instanceof HttpError) send(errorAnswer(err));
        else res.destroy(); // the client went away mid-body
      },
    );
  };
}

function writeAnswer(req: IncomingMessage, res: ServerResponse, answer: Answer): void {
  const headers: Record<string, string | number> = {};
  const { status, body } = answer;
  if (status !== 204 && status !== 304) {
    headers['content-type'] = JSON_TYPE;
    headers['content-length'] = Buffer.byteLength(body);
  }
  for (let i = 0; i < answer.headers.length; i += 2) headers[(answer.headers[i] as string).toLowerCase()] = answer.headers[i + 1] as string;
  if (answer.close) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}
