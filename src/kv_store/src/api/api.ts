import { errorAnswer, withHeaders } from './answers.js';
import { createAuthorizer } from './auth.js';
import type { ApiContext } from './context.js';
import type { Answer, ApiDoor, BodyHandler, RequestHead } from './door.js';
import { fromStoreError, HttpError, isAnswerable, methodNotAllowed, payloadTooLarge } from './errors.js';
import { keyFromPath } from './keys.js';
import { requireJson } from './media-type.js';
import { type Access, ApiRequest, type Route, Router } from './router.js';
import { collectionRoutes } from './routes/collection.js';
import { healthRoutes } from './routes/health.js';
import { itemRoutes } from './routes/items.js';

const NO_BODY = Buffer.alloc(0);

/** The route table: one module per resource. A new endpoint is a row in one of them (or a new module here). */
export function routeTable(context: ApiContext): Route[] {
  return [...collectionRoutes(context), ...itemRoutes(context), ...healthRoutes()];
}

/**
 * kv_store's HTTP API behind its door (door.ts): routes a request by its head, checks access,
 * the key and the media type before any body is read, and turns every refusal into the
 * contract's error answer. Answers of the store's resources carry KV-Revision and KV-Store-Id.
 */
export function createApi(context: ApiContext, routes: readonly Route[] = routeTable(context)): ApiDoor {
  const { config, store, logger } = context;
  const router = new Router(routes);
  const authorize = createAuthorizer(config);
  const tooLarge = errorAnswer(payloadTooLarge(config.maxBodyBytes));

  function guard(head: RequestHead, access: Access): void {
    if (authorize !== null && access !== 'open') authorize(header(head, 'authorization'), access);
  }

  /** Errors become answers; anything that is not a refusal is a bug: logged, never sent. */
  function failed(head: RequestHead, err: unknown): Answer {
    if (isAnswerable(err)) return errorAnswer(err instanceof HttpError ? err : fromStoreError(err));
    logger.error({ err, method: head.method, url: head.target }, 'request failed');
    return errorAnswer(new HttpError('internal', 'internal error'));
  }

  function revisioned(answer: Answer): Answer {
    return withHeaders(answer, ['KV-Revision', String(store.revision), 'KV-Store-Id', store.id]);
  }

  /** Runs a handler; its answer, sync or not, gets the store headers if the route has them. */
  function run(head: RequestHead, route: Route, request: ApiRequest): Answer | Promise<Answer> {
    let result: Answer | Promise<Answer>;
    try {
      result = route.handle(request);
    } catch (err) {
      result = failed(head, err);
    }
    if (result instanceof Promise) {
      const settled = result.catch((err: unknown) => failed(head, err));
      return route.revisioned === true ? settled.then(revisioned) : settled;
    }
    return route.revisioned === true ? revisioned(result) : result;
  }

  function accept(head: RequestHead): Answer | Promise<Answer> | BodyHandler {
    const target = originForm(head.target);
    const q = target.indexOf('?');
    const path = q === -1 ? target : target.slice(0, q);
    const match = router.match(head.method, path);
    let revisionedPath = false;
    try {
      if (match === undefined) throw new HttpError('not_found', `no resource at '${path}'; keys live under /v1/`);
      if (match.route === undefined) {
        revisionedPath = match.routes.revisioned;
        guard(head, match.routes.access);
        throw methodNotAllowed(head.method, match.routes.allow);
      }
      const route = match.route;
      revisionedPath = route.revisioned === true;
      guard(head, route.access);
      const key = match.rest === '' ? '' : keyFromPath(match.rest, config.maxKeyBytes);
      if (route.json === true) requireJson(header(head, 'content-type'));
      const request = new ApiRequest(head.method, path, q === -1 ? '' : target.slice(q + 1), head.headers, key, NO_BODY);
      if (route.json !== true) return run(head, route, request);
      return (body) => run(head, route, request.withBody(body));
    } catch (err) {
      const answer = failed(head, err);
      return revisionedPath ? revisioned(answer) : answer;
    }
  }

  return {
    accept,
    payloadTooLarge: () => tooLarge,
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
