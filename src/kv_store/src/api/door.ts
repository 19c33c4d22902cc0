/*
 * The one door between the transport (http/) and the API: what a transport hands in (a request
 * head, then its body) and what it gets back (an answer, a promise of one, or a stream). http/
 * imports nothing from api/ but these types.
 */

/** Request headers by lower-case name; repeated headers joined with ", ". */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/**
 * A request as far as its head. The transport makes it with `requestId` and `route` empty; the
 * API's `accept` fills them in, for the answer and for whoever observes it (the request log,
 * metrics).
 */
export interface RequestHead {
  readonly method: string;
  /** The request target as sent: origin form (`/v1/k?x`) or absolute form. */
  readonly target: string;
  readonly headers: RequestHeaders;
  /** The request's id: the client's X-Request-Id if it is a valid one, else a new one. */
  requestId: string;
  /** The route that matched, as a template (`/v1/{key}`, never a key), or 'other'. */
  route: string;
}

/**
 * Called by a transport once it has written an answer: the request log and metrics. `startedAt`
 * is `performance.now()` when the request's head was read.
 */
export type AnswerObserver = (head: RequestHead, status: number, startedAt: number) => void;

/** Where a streamed answer writes. */
export interface StreamSink {
  /** Sends a piece of the body; false when the client is not keeping up (the data is still queued). */
  write(chunk: string): boolean;
  /** Ends the body; the connection goes on to the next answer (or closes). */
  end(): void;
  /** Bytes written but not yet taken by the client. */
  readonly pending: number;
  /** Calls `listener` once, when the client has taken what was queued (after a write returned false). */
  onDrain(listener: () => void): void;
}

/** A body produced over time (watch): started once the answer's head is out, stopped if the client leaves. */
export interface AnswerStream {
  start(sink: StreamSink): void;
  /** The client went away or the server is closing: stop writing; the sink is dead. */
  stop(): void;
}

/** What kv_store answers to one request, free of any transport. */
export interface Answer {
  readonly status: number;
  /** Headers besides Content-Type, Content-Length and the connection's own: name, value, name, value... */
  readonly headers: readonly string[];
  /** The body (JSON text unless `type` says otherwise); '' for none. */
  readonly body: string | Buffer;
  /** The body's Content-Type; undefined for JSON. */
  readonly type: string | undefined;
  /** Close the connection after this answer. */
  readonly close: boolean;
  /** A body that goes on (sent chunked); `body` is then ''. */
  readonly stream: AnswerStream | undefined;
}

/** Finishes a request once its whole body has arrived. Never throws. */
export type BodyHandler = (body: Buffer) => Answer | Promise<Answer>;

/**
 * The API as a transport sees it. `accept` sees the head: it answers at once (refused before
 * the body matters, or nothing to read) or returns the BodyHandler that answers once the body is
 * in; the transport enforces `maxBodyBytes` in between, answering `payloadTooLarge(head)`.
 * Nothing here throws or rejects: errors are the contract's error answers.
 */
export interface ApiDoor {
  accept(head: RequestHead): Answer | Promise<Answer> | BodyHandler;
  /** The 413 for a body past maxBodyBytes, for a request `accept` has seen. */
  payloadTooLarge(head: RequestHead): Answer;
  readonly maxBodyBytes: number;
}

/** The Content-Type of every JSON answer. */
export const JSON_TYPE = 'application/json; charset=utf-8';
