import type { Answer, RequestHeaders } from './door.js';

/** Who may call a route: anyone, a read token, or the read-write token (when access control is on). */
export type Access = 'open' | 'read' | 'write';

/** A request as a handler sees it: the head, the route's key, and the whole body. */
export class ApiRequest {
  constructor(
    /** The request's id (X-Request-Id): put it on every log line about this request. */
    readonly requestId: string,
    readonly method: string,
    /** The path, still percent-encoded, without the query. */
    readonly path: string,
    /** The query string without its '?'; '' when there is none. */
    readonly query: string,
    readonly headers: RequestHeaders,
    /** The key of a `/v1/<key>` route, percent-decoded and validated; '' for other routes. */
    readonly key: string,
    readonly body: Buffer,
    /** The rest of a `*` path that is not a key, as sent (still percent-encoded); '' otherwise. */
    readonly rest = '',
    /** What the request's token grants: 'write' also when access control is off. */
    readonly granted: 'read' | 'write' = 'write',
  ) {}

  /** A header as one string (repeated ones joined with ", "), by lower-case name. */
  header(name: string): string | undefined {
    const value = this.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  }

  /** The same request with its body. */
  withBody(body: Buffer): ApiRequest {
    return new ApiRequest(this.requestId, this.method, this.path, this.query, this.headers, this.key, body, this.rest, this.granted);
  }
}

/** Answers a request; may throw HttpError or StoreError, which become the contract's error answers. */
export type Handler = (request: ApiRequest) => Answer | Promise<Answer>;

/** A row of the route table. */
export interface Route {
  readonly method: string;
  /** An exact path (`/v1/`), or a prefix ending in `*` (`/v1/*`) whose rest is a key or a plain path. */
  readonly path: string;
  /** What the rest of a `*` path is: a key (decoded and validated before the handler runs; the default) or a path. */
  readonly rest?: 'key' | 'path';
  /**
   * How metrics and logs name the route (and the OpenAPI document its path): by default the
   * path, a trailing `*` written `{key}` (`{path}` when the rest is a path). Never a key, so the
   * names stay few.
   */
  readonly template?: string;
  readonly access: Access;
  /** The route reads a JSON body: Content-Type is checked before the body is read. */
  readonly json?: boolean;
  /** Answers carry KV-Revision and KV-Store-Id (the store's resources). */
  readonly revisioned?: boolean;
  readonly handle: Handler;
}

/** The routes of one path: by method, with what a 405 for it needs. */
export interface PathRoutes {
  readonly byMethod: ReadonlyMap<string, Route>;
  /** The path's template (`/v1/{key}`), for metrics and logs. */
  readonly template: string;
  /** The Allow header's methods, in table order (HEAD after GET). */
  readonly allow: readonly string[];
  /** What a refused method still needs: open if any route here is open, else a read token. */
  readonly access: Access;
  readonly revisioned: boolean;
}

/** What a path and method found: the route (with the rest of a `*` path), or the path's routes for a 405. */
export type Match =
  | { readonly route: Route; readonly rest: string; readonly template: string }
  | { readonly route: undefined; readonly routes: PathRoutes; readonly template: string };

/**
 * The route table: exact paths by a map, then `*` prefixes, longest first. HEAD is served by a
 * path's GET route unless it has its own.
 */
export class Router {
  private readonly exact = new Map<string, PathRoutes>();
  private readonly prefixes: Array<[string, PathRoutes]> = [];

  constructor(routes: readonly Route[]) {
    const groups = new Map<string, Route[]>();
    for (const route of routes) {
      const group = groups.get(route.path);
      if (group === undefined) groups.set(route.path, [route]);
      else if (group.some((r) => r.method === route.method)) throw new Error(`two routes for ${route.method} ${route.path}`);
      else group.push(route);
    }
    for (const [path, group] of groups) {
      const routes = pathRoutes(group);
      if (path.endsWith('*')) this.prefixes.push([path.slice(0, -1), routes]);
      else this.exact.set(path, routes);
    }
    this.prefixes.sort((a, b) => b[0].length - a[0].length);
  }

  /** The route for `method` on `path`, the path's routes when only the method is wrong, or undefined. */
  match(method: string, path: string): Match | undefined {
    const exact = this.exact.get(path);
    if (exact !== undefined) return found(exact, method, '');
    for (const [prefix, routes] of this.prefixes) {
      if (path.length > prefix.length && path.startsWith(prefix)) return found(routes, method, path.slice(prefix.length));
    }
    return undefined;
  }
}

function found(routes: PathRoutes, method: string, rest: string): Match {
  const route = routes.byMethod.get(method) ?? (method === 'HEAD' ? routes.byMethod.get('GET') : undefined);
  return route === undefined ? { route: undefined, routes, template: routes.template } : { route, rest, template: routes.template };
}

function pathRoutes(group: readonly Route[]): PathRoutes {
  const byMethod = new Map(group.map((r) => [r.method, r] as const));
  const allow: string[] = [];
  for (const r of group) {
    allow.push(r.method);
    if (r.method === 'GET' && !byMethod.has('HEAD')) allow.push('HEAD');
  }
  const first = group[0] as Route;
  const star = first.rest === 'path' ? '{path}' : '{key}';
  return {
    byMethod,
    template:
      group.find((r) => r.template !== undefined)?.template ??
      (first.path.endsWith('*') ? `${first.path.slice(0, -1)}${star}` : first.path),
    allow,
    access: group.some((r) => r.access === 'open') ? 'open' : 'read',
    revisioned: group.some((r) => r.revisioned === true),
  };
}
