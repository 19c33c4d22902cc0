import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import { HttpError } from './errors.js';
import { type Access, createAuthorizer } from './http/auth.js';
import { etag, noneMatchHits, parseIfMatch } from './http/conditional.js';
import { ConnectionOrder } from './http/connection-order.js';
import { keyFromPath, keyPath } from './http/keys.js';
import { readBody, requireJson } from './http/read-body.js';
import { sendEmpty, sendEntry, sendError, sendJson } from './http/respond.js';
import { parseWriteBody } from './http/write-body.js';
import { createLogger, type Logger } from './logger.js';
import type { Entry } from './store/entry.js';
import { MemoryStore } from './store/memory-store.js';
import { StoreError } from './store/store-error.js';
import { SweepScheduler } from './sweep-scheduler.js';

export interface AppOptions {
  readonly config: Config;
  readonly logger?: Logger;
  readonly clock?: Clock;
}

export interface App {
  /** The request handler, for in-process tests (light-my-request) or any http.Server. */
  readonly handler: RequestListener;
  /** An http.Server using the handler and the configured timeouts, not yet listening. */
  readonly server: Server;
  readonly store: MemoryStore;
  readonly logger: Logger;
  /** From now on every answer says Connection: close, so clients stop reusing connections (shutdown). */
  drain(): void;
  /** Stops the expiry sweeper. The server is closed by its owner. */
  close(): void;
}

const ITEM_METHODS = 'GET, HEAD, PUT, DELETE';
const COLLECTION_METHODS = 'POST';
const HEALTH_METHODS = 'GET, HEAD';
const HEALTH_BODY = '{"status":"ok"}';

/** Builds kv_store: the store, the HTTP handler and a server that is not yet listening. */
export function buildApp(options: AppOptions): App {
  const { config } = options;
  const logger = options.logger ?? createLogger(config.logLevel);
  const store = new MemoryStore({
    clock: options.clock ?? { now: () => Date.now() },
    limits: { maxKeys: config.maxKeys, maxMemoryBytes: config.maxMemoryBytes },
  });
  const sweeper = new SweepScheduler(store);
  const authorize = createAuthorizer(config);
  const bodyLimits = { maxKeyBytes: config.maxKeyBytes, maxValueBytes: config.maxValueBytes };
  const accessLog = logger.isLevelEnabled('debug');

  function guard(req: IncomingMessage, access: Access): void {
    if (authorize !== null) authorize(req, access);
  }

  async function create(req: IncomingMessage, res: ServerResponse): Promise<void> {
    guard(req, 'write');
    requireJson(req);
    const body = parseWriteBody(await readBody(req, config.maxBodyBytes), bodyLimits);
    const key = body.key as string;
    let entry: Entry;
    try {
      entry = store.create(key, body.value, { ttlSeconds: body.ttlSeconds });
    } catch (err) {
      if (err instanceof StoreError && err.reason === 'key_exists') {
        throw new HttpError('key_exists', `${err.message}; use PUT ${keyPath(key)} to overwrite it`);
      }
      throw err;
    }
    sendEntry(res, 201, entry, keyPath(key));
  }

  async function replace(req: IncomingMessage, res: ServerResponse, key: string): Promise<void> {
    requireJson(req);
    const body = parseWriteBody(await readBody(req, config.maxBodyBytes), bodyLimits, key);
    const entry = store.replace(key, body.value, {
      ttlSeconds: body.ttlSeconds,
      ifMatch: parseIfMatch(req.headers['if-match']),
    });
    sendEntry(res, 200, entry);
  }

  function read(req: IncomingMessage, res: ServerResponse, key: string): void {
    const entry = store.get(key);
    if (entry === undefined) throw new StoreError('key_not_found', `key '${key}' not found`);
    if (noneMatchHits(req.headers['if-none-match'], entry.revision)) {
      sendEmpty(res, 304, { etag: etag(entry.revision) });
      return;
    }
    sendEntry(res, 200, entry);
  }

  function item(req: IncomingMessage, res: ServerResponse, encodedKey: string): Promise<void> | undefined {
    const method = req.method;
    const isRead = method === 'GET' || method === 'HEAD';
    if (!isRead && method !== 'PUT' && method !== 'DELETE') {
      guard(req, 'read');
      throw methodNotAllowed(method, ITEM_METHODS);
    }
    guard(req, isRead ? 'read' : 'write');
    const key = keyFromPath(encodedKey, config.maxKeyBytes);
    if (isRead) {
      read(req, res, key);
      return undefined;
    }
    if (method === 'PUT') return replace(req, res, key);
    store.delete(key, { ifMatch: parseIfMatch(req.headers['if-match']) });
    sendEmpty(res, 204);
    return undefined;
  }

  function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> | undefined {
    if (path.startsWith('/v1/')) {
      if (path.length > 4) return item(req, res, path.slice(4));
      if (req.method === 'POST') return create(req, res);
      guard(req, 'read');
      throw methodNotAllowed(req.method, COLLECTION_METHODS);
    }
    if (path === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req.method, HEALTH_METHODS);
      sendJson(res, 200, HEALTH_BODY);
      return undefined;
    }
    throw new HttpError('not_found', `no resource at '${path}'; keys live under /v1/`);
  }

  function fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    if (err instanceof HttpError) {
      sendError(res, err);
    } else if (err instanceof StoreError) {
      sendError(res, new HttpError(err.reason, err.message));
    } else if (!req.destroyed) {
      // A request the client abandoned is no error of ours; anything else is logged, never sent.
      logger.error({ err, method: req.method, url: req.url }, 'request failed');
      sendError(res, new HttpError('internal', 'internal error'));
    }
  }

  /** Answers one request; a promise when it waits for its body. Never rejects. */
  function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> | undefined {
    const url = originForm(req.url ?? '/');
    const q = url.indexOf('?');
    try {
      const pending = route(req, res, q === -1 ? url : url.slice(0, q));
      if (pending !== undefined) return pending.catch((err: unknown) => fail(req, res, err));
    } catch (err) {
      fail(req, res, err);
    }
    return undefined;
  }

  const order = new ConnectionOrder();

  const handler: RequestListener = (req, res) => {
    if (accessLog) {
      const start = process.hrtime.bigint();
      res.once('finish', () => {
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        logger.debug({ method: req.method, url: req.url, status: res.statusCode, ms }, 'request');
      });
    }
    order.run(req, res, () => dispatch(req, res));
  };

  const server = createServer(
    {
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      keepAliveTimeout: config.keepAliveTimeoutMs,
      // Node checks the two timeouts above only this often (30 s by default).
      connectionsCheckingInterval: Math.min(
        1000,
        Math.max(100, Math.floor(Math.min(config.headersTimeoutMs, config.requestTimeoutMs) / 4)),
      ),
    },
    handler,
  );
  server.maxConnections = config.maxConnections;
  server.on('clientError', order.onClientError);
  // Expect: 100-continue: invite the body only if it could be accepted; an oversized one gets
  // its 413 at once, before the client sends it.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (!(Number(req.headers['content-length']) > config.maxBodyBytes)) res.writeContinue();
    handler(req, res);
  });
  sweeper.start();

  return { handler, server, store, logger, drain: () => order.drain(), close: () => sweeper.stop() };
}

/** The path and query of a request target, also when a client sends the absolute form (`GET http://host/v1/k`). */
function originForm(target: string): string {
  if (target.charCodeAt(0) === 0x2f /* / */) return target;
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(target);
  if (m === null) return target;
  const rest = target.slice(m[0].length);
  return rest === '' || rest.charCodeAt(0) === 0x3f /* ? */ ? `/${rest}` : rest;
}

function methodNotAllowed(method: string | undefined, allow: string): HttpError {
  return new HttpError('method_not_allowed', `method ${method ?? ''} is not allowed here; allowed: ${allow}`, { allow });
}
