import type { Config } from './config.js';
import { HttpError } from './errors.js';
import { type Answer, emptyAnswer, entryAnswer, errorAnswer, jsonAnswer } from './http/answer.js';
import { type Access, createAuthorizer } from './http/auth.js';
import { etag, noneMatchHits, parseIfMatch } from './http/conditional.js';
import { keyFromPath, keyPath } from './http/keys.js';
import { payloadTooLarge, requireJson } from './http/read-body.js';
import { parseWriteBody } from './http/write-body.js';
import type { Logger } from './logger.js';
import type { MemoryStore } from './store/memory-store.js';
import { StoreError } from './store/store-error.js';

/** Request headers by lower-case name; repeated headers joined with ", ". */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** A request as far as its head: what every transport hands to the API. */
export interface RequestHead {
  readonly method: string;
  /** The request target as sent: origin form (`/v1/k?x`) or absolute form. */
  readonly target: string;
  readonly headers: RequestHeaders;
}

/** Finishes a request once its whole body has arrived. Never throws. */
export type BodyHandler = (body: Buffer) => Answer;

/**
 * kv_store's HTTP API, independent of the transport. `begin` sees the head; it answers at once
 * (reads, deletes, and any request refused before its body matters) or returns the BodyHandler
 * that answers once the body is in. The transport enforces `maxBodyBytes` in between, answering
 * `payloadTooLarge()`. Neither ever throws: errors become the contract's error answers.
 */
export interface Api {
  begin(head: RequestHead): Answer | BodyHandler;
  payloadTooLarge(): Answer;
  readonly maxBodyBytes: number;
}

const ITEM_METHODS = 'GET, HEAD, PUT, DELETE';
const COLLECTION_METHODS = 'POST';
const HEALTH_METHODS = 'GET, HEAD';
const HEALTH_BODY = '{"status":"ok"}';

export function createApi(config: Config, store: MemoryStore, logger: Logger): Api {
  const authorize = createAuthorizer(config);
  const bodyLimits = { maxKeyBytes: config.maxKeyBytes, maxValueBytes: config.maxValueBytes };
  const tooLarge = errorAnswer(payloadTooLarge(config.maxBodyBytes));

  function guard(head: RequestHead, access: Access): void {
    if (authorize !== null) authorize(header(head, 'authorization'), access);
  }

  function create(head: RequestHead): BodyHandler {
    guard(head, 'write');
    requireJson(header(head, 'content-type'));
    return (raw) =>
      answerErrors(head, () => {
        const body = parseWriteBody(raw, bodyLimits);
        const key = body.key as string;
        try {
          return entryAnswer(201, store.create(key, body.value, { ttlSeconds: body.ttlSeconds }), keyPath(key));
        } catch (err) {
          if (err instanceof StoreError && err.reason === 'key_exists') {
            throw new HttpError('key_exists', `${err.message}; use PUT ${keyPath(key)} to overwrite it`);
          }
          throw err;
        }
      });
  }

  function replace(head: RequestHead, key: string): BodyHandler {
    requireJson(header(head, 'content-type'));
    return (raw) =>
      answerErrors(head, () => {
        const body = parseWriteBody(raw, bodyLimits, key);
        const ifMatch = parseIfMatch(header(head, 'if-match'));
        return entryAnswer(200, store.replace(key, body.value, { ttlSeconds: body.ttlSeconds, ifMatch }));
      });
  }

  function read(head: RequestHead, key: string): Answer {
    const entry = store.get(key);
    if (entry === undefined) throw new StoreError('key_not_found', `key '${key}' not found`);
    if (noneMatchHits(header(head, 'if-none-match'), entry.revision)) return emptyAnswer(304, ['ETag', etag(entry.revision)]);
    return entryAnswer(200, entry);
  }

  function item(head: RequestHead, encodedKey: string): Answer | BodyHandler {
    const method = head.method;
    const isRead = method === 'GET' || method === 'HEAD';
    if (!isRead && method !== 'PUT' && method !== 'DELETE') {
      guard(head, 'read');
      throw methodNotAllowed(method, ITEM_METHODS);
    }
    guard(head, isRead ? 'read' : 'write');
    const key = keyFromPath(encodedKey, config.maxKeyBytes);
    if (isRead) return read(head, key);
    if (method === 'PUT') return replace(head, key);
    store.delete(key, { ifMatch: parseIfMatch(header(head, 'if-match')) });
    return emptyAnswer(204);
  }

  function route(head: RequestHead, path: string): Answer | BodyHandler {
    if (path.startsWith('/v1/')) {
      if (path.length > 4) return item(head, path.slice(4));
      if (head.method === 'POST') return create(head);
      guard(head, 'read');
      throw methodNotAllowed(head.method, COLLECTION_METHODS);
    }
    if (path === '/healthz') {
      if (head.method !== 'GET' && head.method !== 'HEAD') throw methodNotAllowed(head.method, HEALTH_METHODS);
      return jsonAnswer(200, HEALTH_BODY);
    }
    throw new HttpError('not_found', `no resource at '${path}'; keys live under /v1/`);
  }

  function answerErrors<T extends Answer | BodyHandler>(head: RequestHead, run: () => T): T | Answer {
    try {
      return run();
    } catch (err) {
      if (err instanceof HttpError) return errorAnswer(err);
      if (err instanceof StoreError) return errorAnswer(new HttpError(err.reason, err.message));
      // Anything else is a bug: logged, never sent.
      logger.error({ err, method: head.method, url: head.target }, 'request failed');
      return errorAnswer(new HttpError('internal', 'internal error'));
    }
  }

  return {
    begin(head) {
      const url = originForm(head.target);
      const q = url.indexOf('?');
      return answerErrors(head, () => route(head, q === -1 ? url : url.slice(0, q)));
    },
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

function methodNotAllowed(method: string | undefined, allow: string): HttpError {
  return new HttpError('method_not_allowed', `method ${method ?? ''} is not allowed here; allowed: ${allow}`, { allow });
}
