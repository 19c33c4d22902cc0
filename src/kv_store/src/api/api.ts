import { errorAnswer } from './answers.js';
import { createAuthorizer } from './auth.js';
import type { ApiContext } from './context.js';
import { createCors } from './cors.js';
import type { Answer, ApiDoor, BodyHandler, RequestHead } from './door.js';
import { StoreError } from '../store/store-error.js';
import { HttpError, isAnswerable, methodNotAllowed, payloadTooLarge } from './errors.js';
import { keyFromPath } from './keys.js';
import { RequestIds } from './request-id.js';
import { requireJson } from './media-type.js';
import { type Access, ApiRequest, type Route, Router } from './router.js';
import { collectionRoutes } from './routes/collection.js';
import { healthRoutes } from './routes/health.js';
import { itemRoutes } from './routes/items.js';
import { metricsRoutes } from './routes/metrics.js';
import { txnRoutes } from './routes/txn.js';
import { uiRoutes } from './routes/ui.js';

const NO_BODY = Buffer.alloc(0);

/** The route table: one module per resource. A new endpoint is a row in one of them (or a new module here). */
export function routeTable(context: ApiContext): Route[] {
  return [
    ...collectionRoutes(context),
    ...itemRoutes(context),
    ...txnRoutes(context),
    ...healthRoutes(context),
    ...metricsRoutes(context),
    ...uiRoutes(context),
  ];
}

/**
 * kv_store's HTTP API behind its door (door.ts): routes a request by its head, checks access,
 * the key and the media type before any body is read, and turns every refusal into the
 * contract's error answer. Every answer carries the request's id (X-Request-Id); answers of the
 * store's resources carry KV-Revision and KV-Store-Id too. The head is noted with the request
 * id and the route's template, for the transport's answer observer (the request log, metrics).
 */
export function createApi(context: ApiContext, routes: readonly Route[] = routeTable(context)): ApiDoor {
  const { config, store, logger, metrics } = context;
  const router = new Router(routes);
  const authorize = createAuthorizer(config);
  const ids = new RequestIds();
  const tooLarge = errorAnswer(payloadTooLarge(config.maxBodyBytes));
  const cors = createCors(config.corsOrigins);

  /** Checks the token for `access`; returns what it grants ('write' when access control is off). */
  function guard(head: RequestHead, access: Access): 'read' | 'write' {
    if (authorize === null || access === 'open') return 'write';
    return authorize(header(head, 'authorization'), access);
  }

  /**
   * Errors become answers; anything that is not a refusal is a bug: logged (with the route, never
   * the key), never sent. A refused write is counted by its code.
   */
  function failed(head: RequestHead, err: unknown, write: boolean): Answer {
    let refusal: HttpError | StoreError;
    if (isAnswerable(err)) refusal = err;
    else {
      logger.error({ err, requestId: head.requestId, method: head.method, route: head.route, status: 500 }, 'request failed');
      refusal = new HttpError('internal', 'internal error');
    }
    if (write) metrics.rejectedWrite(refusal instanceof StoreError ? refusal.reason : refusal.code);
    return errorAnswer(refusal);
  }

  /** The store's revision as text, made again only when the revision has moved (reads do not move it). */
  let revisionText = '0';
  let revisionOfText = 0;
  function revision(): string {
    const now = store.revision;
    if (now !== revisionOfText) {
      revisionOfText = now;
      revisionText = String(now);
    }
    return revisionText;
  }

  /**
   * The answer with the request's id, and the store's revision and id if the route is one of the
   * store's. Its header list is made once, with room for them (no list of them to copy in).
   */
  function stamped(head: RequestHead, answer: Answer, revisioned: boolean, at = revision()): Answer {
    const headers = answer.headers.slice();
    if (revisioned) headers.push('KV-Revision', at, 'KV-Store-Id', store.id);
    headers.push('X-Request-Id', head.requestId);
    return { status: answer.status, headers, body: answer.body, type: answer.type, close: answer.close, stream: answer.stream };
  }

  /** The store's commits that wait for their log write, if it has any (see KvStore.unwritten). */
  const unwritten = store.unwritten?.bind(store);

  /**
   * Runs a handler; its answer, sync or not, is stamped. A read of the store made while commits
   * of this turn still wait for their log write is stamped now (its revision is the one it read
   * at) and sent once that write has been tried: no answer shows a change before it reached the OS.
   */
  function run(head: RequestHead, route: Route, request: ApiRequest): Answer | Promise<Answer> {
    const revisioned = route.revisioned === true;
    const write = route.access === 'write';
    let result: Answer | Promise<Answer>;
    try {
      result = route.handle(request);
    } catch (err) {
      result = failed(head, err, write);
    }
    if (result instanceof Promise) {
      // A write to an engine whose commits wait for their log write has committed already: the
      // revision now is its answer's, where later (once it is durable) it may name commits still
      // unwritten. (A long-poll's answer is stamped when it comes, with the revision it saw.)
      const at = write && unwritten !== undefined ? revision() : undefined;
      return result.then(
        (answer) => stamped(head, answer, revisioned, at),
        (err: unknown) => stamped(head, failed(head, err, write), revisioned, at),
      );
    }
    const answer = stamped(head, result, revisioned);
    const written = revisioned && unwritten !== undefined ? unwritten() : undefined;
    return written === undefined ? answer : written.then(() => answer);
  }

  function accept(head: RequestHead): Answer | Promise<Answer> | BodyHandler {
    head.requestId = ids.take(head.headers['x-request-id']);
    const target = originForm(head.target);
    const q = target.indexOf('?');
    const path = q === -1 ? target : target.slice(0, q);
    const match = router.match(head.method, path);
    head.route = match === undefined ? 'other' : match.template;
    // A CORS preflight (KV_CORS_ORIGINS) is answered before access is checked; else OPTIONS is a 405.
    const preflight = match !== undefined && match.route === undefined ? cors?.preflight(head, match.routes.allow) : undefined;
    if (preflight !== undefined) return stamped(head, preflight, false);
    let revisioned = false;
    let write = false;
    try {
      if (match === undefined) throw new HttpError('not_found', `no resource at '${path}'; keys live under /v1/`);
      if (match.route === undefined) {
        revisioned = match.routes.revisioned;
        guard(head, match.routes.access);
        throw methodNotAllowed(head.method, match.routes.allow);
      }
      const route = match.route;
      revisioned = route.revisioned === true;
      write = route.access === 'write';
      const granted = guard(head, route.access);
      const restIsKey = match.rest !== '' && route.rest !== 'path';
      const key = restIsKey ? keyFromPath(match.rest, config.maxKeyBytes) : '';
      if (route.json === true) requireJson(header(head, 'content-type'));
      const query = q === -1 ? '' : target.slice(q + 1);
      const request = new ApiRequest(
        head.requestId,
        head.method,
        path,
        query,
        head.headers,
        key,
        NO_BODY,
        restIsKey ? '' : match.rest,
        granted,
      );
      if (route.json !== true) return run(head, route, request);
      return (body) => run(head, route, request.withBody(body));
    } catch (err) {
      return stamped(head, failed(head, err, write), revisioned);
    }
  }

  /** True when the request is to a write route: a body too large for it is a refused write. */
  function isWrite(head: RequestHead): boolean {
    const target = originForm(head.target);
    const q = target.indexOf('?');
    return router.match(head.method, q === -1 ? target : target.slice(0, q))?.route?.access === 'write';
  }

  return {
    accept: cors === undefined ? accept : (head) => cors.decorate(head, accept(head)),
    payloadTooLarge(head) {
      if (isWrite(head)) metrics.rejectedWrite('payload_too_large');
      const answer = stamped(head, tooLarge, false);
      return cors === undefined ? answer : cors.decorate(head, answer);
    },
    maxBodyBytes: config.maxBodyBytes,
  };
}

/** A header as one string (Node hands a few repeated ones over as arrays). */
function header(head: RequestHead, name: string): string | undefined {
  const value = head.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The path and query of a request target, also when a client sends the absolute form (`GET http://host/v1/k`). */
function originForm(target: string): string {
  if (target.charCodeAt(0) === 0x2f /* / */) return target;
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(target);
  if (m === null) return target;
  const rest = target.slice(m[0].length);
  return rest === '' || rest.charCodeAt(0) === 0x3f /* ? */ ? `/${rest}` : rest;
}
