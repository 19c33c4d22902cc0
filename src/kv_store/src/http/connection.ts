import type { Socket } from 'node:net';
import type { Answer, AnswerObserver, AnswerStream, ApiDoor, BodyHandler, RequestHead, StreamSink } from '../api/door.js';
import { type BodyPlan, type Framing, ParseError, type ParserEvents, type ParserLimits, RequestParser } from './request-parser.js';
import { answerHead, chunkBytes, currentDateLine, LAST_CHUNK, refusal } from './response-writer.js';

/*
 * One client connection: it feeds the socket's bytes to a RequestParser, hands each request to
 * the API's door, and writes the answers in the order the requests came. It owns ordering,
 * backpressure and closing:
 * - an answer that is a promise, or a stream (watch), holds the requests after it: nothing more
 *   is parsed until it is written (or the stream ends), so pipelined answers stay in order;
 * - a client that sends faster than it reads its answers waits: past MAX_PENDING_OUTPUT of
 *   unread answers, parsing and reading stop until the socket drains;
 * - answers made in one read are written with one socket write, at the end of the event loop's
 *   turn (setImmediate): the turn first runs every connection's requests that its reads brought,
 *   then writes every connection's answers. Done one after the other instead (parse, answer and
 *   write one connection, then the next), each request's code met caches the kernel's send of
 *   the last answer had just cooled, and a GET cost the server about 40% more CPU, a PUT about
 *   70% more (docs/performance.md, "Answers written at the end of the turn").
 */

/** What the server shares with its connections. */
export interface ConnectionHost {
  readonly door: ApiDoor;
  readonly limits: ParserLimits;
  /** `Connection: keep-alive` and `Keep-Alive: timeout=…` lines. */
  readonly keepAliveLines: string;
  /** True once the server is shutting down: every answer closes its connection. */
  readonly draining: boolean;
  readonly onAnswer: AnswerObserver | undefined;
  /** A bug of kv_store's, with the request it happened on when there is one. */
  readonly onError: ((err: unknown, head: RequestHead | undefined) => void) | undefined;
}

/** How long a closing connection may go on sending before it is cut off. */
const LINGER_MS = 2000;
/** Answers queued on a socket past which it stops reading until the client catches up. */
const MAX_PENDING_OUTPUT = 1 << 20;
/** Bytes a connection buffers while an answer is pending before it stops reading. */
const MAX_BUFFERED_WHILE_WAITING = 64 * 1024;
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
const CRLF = '\r\n';

/** Connections with answers to write at the end of this turn of the event loop. */
const toFlush: Connection[] = [];

/**
 * Writes the answers of every connection that made some since the last call (what the end of
 * the turn does; exported for bench/request-path.mjs, which has no event loop turning).
 */
export function flushConnections(): void {
  const connections = toFlush.splice(0);
  for (const connection of connections) connection.flushQueued();
}

export class Connection implements ParserEvents {
  private readonly parser: RequestParser;
  /** The request being handled, and what its head said. */
  private head: RequestHead | undefined;
  /** performance.now() when its head was read, for the answer's observer. */
  private headAt = 0;
  private keepAlive = true;
  private bodyHandler: BodyHandler | undefined;
  /** The current request has an answer (written, or pending): a broken body after it gets no second one. */
  private answered = false;
  /** Output of this batch: text, and buffers when a body is one. */
  private out = '';
  private parts: Array<string | Buffer> | undefined;
  /** Parsing waits for the client to read the answers queued for it. */
  private blocked = false;
  /** An answer is pending (a promise) or streaming: nothing more is parsed until it is done. */
  private waiting = false;
  private stream: AnswerStream | undefined;
  /** No more requests are taken; the socket ends once the output is written. */
  private closing = false;
  /** The client has ended its side of the connection. */
  private peerEnded = false;
  /** Answers wait in `out` for the end of the turn (queueFlush). */
  private flushPending = false;
  /** Output progress, for the check that drops clients that stop reading. */
  lastWritten = 0;
  lastProgress = 0;
  /** When the request being received began (or the connection opened); -1 between requests. */
  requestStart: number;
  idleSince = 0;

  constructor(
    readonly socket: Socket,
    private readonly host: ConnectionHost,
    now: number,
  ) {
    this.requestStart = now;
    this.parser = new RequestParser(host.limits, this);
  }

  /** True between requests, with nothing of the next one received and no answer pending. */
  get idle(): boolean {
    return this.parser.betweenRequests && this.requestStart < 0 && !this.waiting;
  }

  /** True while the head of a request is being received. */
  get inHead(): boolean {
    return this.parser.inHead;
  }

  /** True while an answer is pending or streaming: the server's timeouts do not apply. */
  get busy(): boolean {
    return this.waiting;
  }

  /** True until the connection is being closed (no request of its own is accepted anymore). */
  get open(): boolean {
    return !this.closing;
  }

  onData(chunk: Buffer | undefined): void {
    if (this.closing) return; // lingering: read and thrown away
    const now = Date.now();
    if (chunk !== undefined && this.requestStart < 0) this.requestStart = now;
    try {
      this.parser.push(chunk);
    } catch (err) {
      if (!(err instanceof ParseError)) this.host.onError?.(err, this.head);
      // A request that has its answer already gets no second one: the connection just closes.
      if (!this.answered || this.parser.inHead) this.out += refusal(err instanceof ParseError ? err.status : 500);
      this.close();
    }
    if (this.parser.stopped) this.close();
    if (this.parser.betweenRequests && !this.waiting) {
      this.requestStart = -1;
      this.idleSince = now;
    }
    if (this.waiting && this.parser.buffered > MAX_BUFFERED_WHILE_WAITING) this.socket.pause();
    this.queueFlush();
  }

  /** Writes this connection's answers at the end of the turn (flushConnections), once however many reads made them. */
  private queueFlush(): void {
    if (this.flushPending) return;
    this.flushPending = true;
    if (toFlush.push(this) === 1) setImmediate(flushConnections);
  }

  /** The end of the turn: the answers queued are written (unless the socket is gone). */
  flushQueued(): void {
    this.flushPending = false;
    if (!this.socket.destroyed) this.flush();
  }

  /** The client ended its side: answer what it sent (once parsing may go on), then close. */
  onEnd(): void {
    if (this.closing && this.stream === undefined) return; // both sides ended: the socket closes
    this.peerEnded = true;
    const stream = this.stream;
    if (stream !== undefined) {
      // A stream (a watch) never ends by itself: a client that ends its side has gone away.
      this.stream = undefined;
      this.waiting = false;
      stream.stop();
      this.close();
      this.socket.destroy();
      return;
    }
    if (!this.blocked && !this.waiting) this.flush();
  }

  /** The socket is gone: a stream still writing to it is stopped. */
  onClose(): void {
    const stream = this.stream;
    this.stream = undefined;
    stream?.stop();
  }

  /** Answers 408 and closes: the request took longer than the server allows. */
  timeout(): void {
    this.out += refusal(408);
    this.close();
    this.flush();
  }

  // The parser's events.

  mayParseHead(): boolean {
    if (this.waiting || this.closing) return false;
    if (this.out.length + this.socket.writableLength > MAX_PENDING_OUTPUT) {
      this.blocked = true;
      return false;
    }
    return true;
  }

  onHead(head: RequestHead, framing: Framing): BodyPlan {
    this.head = head;
    if (this.host.onAnswer !== undefined) this.headAt = performance.now();
    this.keepAlive = framing.keepAlive;
    this.answered = false;
    const door = this.host.door;
    const accepted = door.accept(head);
    const tooLong = framing.length > door.maxBodyBytes;
    if (typeof accepted !== 'function') {
      // Answered from the head. A body within the limit is still read (invited, if the client
      // waits to be) and thrown away, as node:http does, so the connection stays in step; a
      // longer one closes the connection instead.
      if (tooLong) {
        this.deliver(accepted, true);
        return 'stop';
      }
      if (framing.hasBody && framing.expectContinue) this.out += CONTINUE;
      this.deliver(accepted, false);
      return 'discard';
    }
    if (tooLong) {
      this.deliver(door.payloadTooLarge(head), false);
      return 'stop';
    }
    this.bodyHandler = accepted;
    if (framing.hasBody && framing.expectContinue) this.out += CONTINUE;
    return 'keep';
  }

  onBody(body: Buffer): void {
    const handler = this.bodyHandler as BodyHandler;
    this.bodyHandler = undefined;
    this.deliver(handler(body), false);
  }

  onBodyDiscarded(): void {
    // The answer went out with the head; this body was only read to keep the connection in step.
    if (!this.waiting) this.requestStart = this.parser.buffered > 0 ? Date.now() : -1;
  }

  onBodyTooLarge(): void {
    this.bodyHandler = undefined;
    this.deliver(this.host.door.payloadTooLarge(this.head as RequestHead), false);
  }

  // Answers.

  /** Writes an answer now, or when its promise settles; `close` closes the connection after it. */
  private deliver(result: Answer | Promise<Answer>, close: boolean): void {
    this.answered = true;
    const head = this.head as RequestHead;
    const keepAlive = this.keepAlive && !close;
    const startedAt = this.headAt;
    if (!(result instanceof Promise)) {
      this.write(head, keepAlive, startedAt, result);
      return;
    }
    this.waiting = true;
    result.then(
      (answer) => this.settle(head, keepAlive, startedAt, answer),
      (err: unknown) => {
        // The door never rejects; should it, the client gets a bare 500 and the connection ends.
        this.host.onError?.(err, head);
        this.waiting = false;
        this.out += refusal(500);
        this.close();
        this.flush();
      },
    );
  }

  /** A pending answer is ready: written, then the requests received meanwhile are parsed. */
  private settle(head: RequestHead, keepAlive: boolean, startedAt: number, answer: Answer): void {
    if (this.socket.destroyed) {
      answer.stream?.stop();
      return;
    }
    this.waiting = false;
    this.write(head, keepAlive, startedAt, answer);
    this.goOn();
  }

  private write(head: RequestHead, keepAlive: boolean, startedAt: number, answer: Answer): void {
    const now = Date.now();
    const keep = keepAlive && !answer.close && !this.host.draining;
    let text = answerHead(answer) + currentDateLine(now) + (keep ? this.host.keepAliveLines : 'Connection: close\r\n') + CRLF;
    const stream = head.method === 'HEAD' ? undefined : answer.stream;
    if (head.method === 'HEAD') answer.stream?.stop();
    else if (stream === undefined) {
      const body = answer.body;
      if (typeof body === 'string') text += body;
      else {
        this.parts ??= [];
        this.parts.push(this.out + text, body);
        this.out = '';
        text = '';
      }
    }
    this.out += text;
    this.host.onAnswer?.(head, answer.status, startedAt);
    this.requestStart = now; // the next request on the connection starts no earlier
    if (!keep) this.close();
    if (stream !== undefined) this.startStream(stream);
  }

  /** Sends the head written so far, then lets `stream` write the body, chunk by chunk, until it ends. */
  private startStream(stream: AnswerStream): void {
    this.waiting = true;
    this.stream = stream;
    this.writeOut();
    const socket = this.socket;
    const live = (): boolean => this.stream === stream && !socket.destroyed;
    const sink: StreamSink = {
      write: (text) => {
        if (!live()) return false;
        socket.write(chunkBytes(text));
        return !socket.writableNeedDrain;
      },
      end: () => {
        if (!live()) return;
        this.stream = undefined;
        socket.write(LAST_CHUNK);
        this.waiting = false;
        this.goOn();
      },
      get pending() {
        return socket.writableLength;
      },
      onDrain: (listener) => {
        if (live()) socket.once('drain', listener);
      },
    };
    stream.start(sink);
  }

  /** After a pending answer or a stream: read and parse again. */
  private goOn(): void {
    if (this.socket.isPaused() && !this.blocked) this.socket.resume();
    if (this.closing) this.flush();
    else this.onData(undefined);
  }

  /** Stops taking requests; the socket closes once the answers so far are written. */
  private close(): void {
    this.closing = true;
    this.parser.stop();
  }

  private writeOut(): void {
    const socket = this.socket;
    if (this.parts !== undefined) {
      socket.cork();
      for (const part of this.parts) socket.write(part);
      if (this.out !== '') socket.write(this.out);
      socket.uncork();
      this.parts = undefined;
    } else if (this.out !== '') socket.write(this.out);
    this.out = '';
  }

  /** Writes the answers of this batch in one write; then ends the socket if closing. */
  private flush(): void {
    const socket = this.socket;
    // The client has sent all it will: once what it sent is answered, the connection ends.
    if (this.peerEnded && !this.blocked && !this.waiting && !this.closing) this.close();
    this.writeOut();
    if (this.closing) {
      if (this.waiting) return; // ends once the pending answer or stream is written
      // Half-close: the client reads every answer; what it still sends is read and thrown away
      // (a socket closed with unread data is reset, which can destroy the answer), for a while.
      // The linger starts once the answers are all written; a client that stops reading them is
      // dropped by the server's check.
      if (socket.writableEnded) return;
      socket.end();
      socket.resume();
      socket.once('finish', () => setTimeout(() => socket.destroy(), LINGER_MS).unref());
    } else if (this.blocked && !socket.isPaused()) {
      socket.pause();
      const resume = (): void => {
        this.blocked = false;
        socket.resume();
        this.onData(undefined); // the requests received meanwhile
      };
      // The kernel may have taken the whole batch at once: then there is no 'drain' to wait for.
      if (socket.writableNeedDrain) socket.once('drain', resume);
      else setImmediate(resume);
    }
  }
}
