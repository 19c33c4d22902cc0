import { STATUS_CODES } from 'node:http';
import { Server, type Socket } from 'node:net';
import type { Api, BodyHandler, RequestHead } from '../api.js';
import { type Answer, JSON_TYPE } from './answer.js';

/**
 * kv_store's HTTP/1.1 server, on node:net. node:http spends about a third of a request's CPU on
 * its own objects and streams; this server parses only what the API needs, answers in the same
 * tick the request arrives, and writes each batch of answers with one socket write. Measured:
 * docs/performance.md, "Choosing the HTTP layer".
 *
 * It is strict where leniency is a risk: request smuggling (Content-Length with
 * Transfer-Encoding, repeated or malformed lengths), obs-fold, control characters, bare LF, a
 * missing Host and unknown transfer codings are refused with a 400 and the connection closed.
 * Requests on a connection are answered in order, pipelined or not.
 */
export interface WireServerOptions {
  /** Most time from a request's first byte to the end of its head (and for a fresh connection's first request). */
  readonly headersTimeoutMs: number;
  /** Most time from a request's first byte to the end of its body. */
  readonly requestTimeoutMs: number;
  /** Most idle time between requests on a kept-alive connection. */
  readonly keepAliveTimeoutMs: number;
  readonly maxConnections: number;
  /** Largest request head (request line and headers), as node:http's default: 16 KiB. */
  readonly maxHeadBytes?: number;
  /** Called after each answer, for the access log. */
  readonly onAnswer?: ((head: RequestHead, status: number, startedAt: number) => void) | undefined;
  /** Called with an error that is a bug of kv_store's (the client got a 500 and the connection closed). */
  readonly onError?: ((err: unknown) => void) | undefined;
}

/** How long a connection refused for its body may go on sending before it is cut off. */
const LINGER_MS = 2000;
/** Answers queued on a socket past which it stops reading until the client catches up. */
const MAX_PENDING_OUTPUT = 1 << 20;
const DEFAULT_MAX_HEAD_BYTES = 16 * 1024;
/** The longest chunk-size line (size and extensions) of a chunked body. */
const MAX_CHUNK_LINE = 1024;

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
const JSON_TYPE_LINE = `Content-Type: ${JSON_TYPE}\r\n`;
const CRLF = '\r\n';

// Methods the parser knows (those of node:http's parser); any other is refused as malformed.
const METHODS = new Set([
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'PROPFIND', 'PROPPATCH',
  'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'SEARCH', 'REPORT', 'MKACTIVITY', 'CHECKOUT', 'MERGE', 'PURGE',
  'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'LINK', 'UNLINK', 'QUERY',
]); // biome-ignore format: a list

// A request target: visible ASCII only (no space, control character or raw non-ASCII byte).
const TARGET = /^[\x21-\x7e]+$/;
// A header name: an RFC 9110 token.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const DIGITS = /^\d{1,18}$/;
// A chunk-size line: hex digits, then optional extensions free of control characters.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const CHUNK_LINE = /^([0-9a-fA-F]{1,12})[ \t]*(?:;[^\x00-\x08\x0a-\x1f\x7f]*)?$/;
// Headers that must not repeat: a second one is refused rather than guessed at.
const SINGLE = new Set(['content-length', 'host', 'content-type', 'authorization', 'transfer-encoding']);

const STATUS_LINES: string[] = [];
function statusLine(status: number): string {
  let line = STATUS_LINES[status];
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    STATUS_LINES[status] = line;
  }
  return line;
}

/** A refusal of malformed HTTP, as node:http answers: no body, and the connection closes. */
function refusal(status: number): string {
  return `${statusLine(status)}Connection: close\r\nContent-Length: 0\r\n\r\n`;
}

let dateLine = '';
let dateUntil = 0;
/** The Date header, formatted once a second. */
function currentDateLine(now: number): string {
  if (now >= dateUntil) {
    dateLine = `Date: ${new Date(now).toUTCString()}\r\n`;
    dateUntil = now - (now % 1000) + 1000;
  }
  return dateLine;
}

/**
 * Bytes the kernel has taken from this socket so far. `bytesWritten` counts a write as soon as it
 * is handed to libuv; while one large write drains, only the handle's queue shrinks.
 */
function bytesSent(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { writeQueueSize?: number } | null })._handle;
  return socket.bytesWritten - (handle?.writeQueueSize ?? 0);
}

/** The text of `line` from `from`, without the spaces and tabs around it. */
function trimSpace(line: string, from: number): string {
  let start = from;
  let end = line.length;
  while (start < end && isSpace(line.charCodeAt(start))) start++;
  while (end > start && isSpace(line.charCodeAt(end - 1))) end--;
  return line.slice(start, end);
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

class ParseError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

enum State {
  /** Waiting for a request head. */
  Head,
  /** Reading a body of known length. */
  Length,
  /** Reading a chunk-size line of a chunked body. */
  ChunkSize,
  /** Reading a chunk's data. */
  ChunkData,
  /** Reading the CRLF after a chunk's data. */
  ChunkEnd,
  /** Reading the trailer section of a chunked body. */
  Trailer,
  /** Closing: nothing more is read. */
  Closed,
}

/** One client connection: an incremental HTTP/1.1 request parser and its answers. */
class Connection {
  private state = State.Head;
  private buf: Buffer | undefined;
  /** Where the search for the end of the head resumes. */
  private scanFrom = 0;
  private head: RequestHead | undefined;
  /** The API's continuation; undefined while a body is read only to be thrown away. */
  private onBody: BodyHandler | undefined;
  private chunks: Buffer[] = [];
  private received = 0;
  private remaining = 0;
  private trailerBytes = 0;
  private keepAlive = true;
  private out = '';
  /** Parsing waits for the client to read the answers queued for it. */
  private blocked = false;
  /** The client has ended its side of the connection. */
  private peerEnded = false;
  /** Output progress, for the check that drops clients that stop reading. */
  lastWritten = 0;
  lastProgress = 0;
  /** When the request being received began (or the connection opened); -1 between requests. */
  requestStart: number;
  idleSince = 0;

  constructor(
    readonly socket: Socket,
    private readonly server: WireServer,
    now: number,
  ) {
    this.requestStart = now;
  }

  /** True between requests, with nothing of the next one received. */
  get idle(): boolean {
    return this.state === State.Head && this.buf === undefined && this.requestStart < 0;
  }

  /** True while the head of a request is being received. */
  get inHead(): boolean {
    return this.state === State.Head;
  }

  /** True until the connection is being closed (no request of its own is accepted anymore). */
  get open(): boolean {
    return this.state !== State.Closed;
  }

  onData(chunk: Buffer | undefined): void {
    if (this.state === State.Closed) return; // lingering: read and thrown away
    const now = Date.now();
    if (chunk !== undefined) {
      if (this.requestStart < 0) this.requestStart = now;
      this.buf = this.buf === undefined ? chunk : Buffer.concat([this.buf, chunk]);
    }
    try {
      this.parse(now);
    } catch (err) {
      if (err instanceof ParseError) this.out += refusal(err.status);
      else {
        this.server.onError?.(err);
        this.out += refusal(500);
      }
      this.close();
    }
    if (this.state === State.Head && this.buf === undefined) {
      this.requestStart = -1;
      this.idleSince = now;
    }
    this.flush();
  }

  /** The client ended its side: answer what it sent (once parsing may go on), then close. */
  onEnd(): void {
    if (this.state === State.Closed) return; // both sides ended: the socket closes
    this.peerEnded = true;
    if (!this.blocked) this.flush();
  }

  /** Answers 408 and closes: the request took longer than the server allows. */
  timeout(): void {
    this.out += refusal(408);
    this.close();
    this.flush();
  }

  private parse(now: number): void {
    while (this.buf !== undefined && this.state !== State.Closed) {
      switch (this.state) {
        case State.Head:
          // A client that sends requests faster than it reads answers waits: nothing more is
          // parsed (or read) until what is queued for it has gone out.
          if (this.out.length + this.socket.writableLength > MAX_PENDING_OUTPUT) {
            this.blocked = true;
            return;
          }
          if (!this.parseHead(now)) return;
          break;
        case State.Length:
          this.take(Math.min(this.remaining, this.buf.length));
          if (this.remaining > 0) return;
          this.endBody(now);
          break;
        case State.ChunkSize: {
          const line = this.line(MAX_CHUNK_LINE, 413);
          if (line === undefined) return;
          const m = CHUNK_LINE.exec(line);
          if (m === null) throw new ParseError(400);
          this.remaining = Number.parseInt(m[1] as string, 16);
          this.state = this.remaining === 0 ? State.Trailer : State.ChunkData;
          if (this.received + this.remaining > this.server.api.maxBodyBytes) {
            // Past the limit: refused with 413, or, if it was answered already, just closed.
            if (this.onBody !== undefined) this.refuseBody();
            else this.close();
          }
          break;
        }
        case State.ChunkData:
          this.take(Math.min(this.remaining, this.buf.length));
          if (this.remaining === 0) this.state = State.ChunkEnd;
          break;
        case State.ChunkEnd: {
          if (this.buf.length < 2) return;
          if (this.buf[0] !== 0x0d || this.buf[1] !== 0x0a) throw new ParseError(400);
          this.consume(2);
          this.state = State.ChunkSize;
          break;
        }
        case State.Trailer: {
          const line = this.line(this.server.maxHeadBytes, 431);
          if (line === undefined) return;
          this.trailerBytes += line.length + 2;
          if (this.trailerBytes > this.server.maxHeadBytes) throw new ParseError(431);
          if (line === '') this.endBody(now);
          else {
            const colon = line.indexOf(':');
            if (colon <= 0 || !TOKEN.test(line.slice(0, colon)) || BAD_VALUE.test(line)) throw new ParseError(400);
          }
          break;
        }
      }
    }
  }

  /** Parses a request head if the whole of it is in; false when more bytes are needed. */
  private parseHead(now: number): boolean {
    let buf = this.buf as Buffer;
    // Empty lines before a request line are ignored (RFC 9112, 2.2).
    let skip = 0;
    while (skip + 1 < buf.length && buf[skip] === 0x0d && buf[skip + 1] === 0x0a) skip += 2;
    if (skip > 0) {
      this.consume(skip);
      if (this.buf === undefined) return false;
      buf = this.buf;
    }
    const end = buf.indexOf('\r\n\r\n', this.scanFrom, 'latin1');
    const limit = this.server.maxHeadBytes;
    if (end === -1) {
      if (buf.length > limit) throw new ParseError(431);
      const from = Math.max(0, this.scanFrom - 2);
      if (buf.indexOf('\n\n', from, 'latin1') !== -1 || buf.indexOf('\n\r\n', from, 'latin1') !== -1) throw new ParseError(400);
      this.scanFrom = Math.max(0, buf.length - 3);
      return false;
    }
    if (end + 4 > limit) throw new ParseError(431);
    const text = buf.toString('latin1', 0, end);
    this.consume(end + 4);
    this.scanFrom = 0;
    this.startRequest(text, now);
    return true;
  }

  private startRequest(text: string, now: number): void {
    const lineEnd = text.indexOf(CRLF);
    const requestLine = lineEnd === -1 ? text : text.slice(0, lineEnd);
    const sp1 = requestLine.indexOf(' ');
    const sp2 = requestLine.indexOf(' ', sp1 + 1);
    if (sp1 <= 0 || sp2 === -1) throw new ParseError(400);
    const method = requestLine.slice(0, sp1);
    const target = requestLine.slice(sp1 + 1, sp2);
    const version = requestLine.slice(sp2 + 1);
    if (!METHODS.has(method) || !TARGET.test(target)) throw new ParseError(400);
    const http11 = version === 'HTTP/1.1';
    if (!http11 && version !== 'HTTP/1.0') throw new ParseError(400);

    const headers: Record<string, string> = {};
    let at = lineEnd === -1 ? text.length : lineEnd + 2;
    while (at < text.length) {
      let next = text.indexOf(CRLF, at);
      if (next === -1) next = text.length;
      const line = text.slice(at, next);
      at = next + 2;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new ParseError(400);
      const name = line.slice(0, colon);
      if (!TOKEN.test(name)) throw new ParseError(400); // also obs-fold and "Name :"
      const value = trimSpace(line, colon + 1);
      if (BAD_VALUE.test(value)) throw new ParseError(400);
      const lower = name.toLowerCase();
      const before = headers[lower];
      if (before === undefined) headers[lower] = value;
      else if (SINGLE.has(lower)) throw new ParseError(400);
      else headers[lower] = `${before}, ${value}`;
    }
    if (http11 && headers.host === undefined) throw new ParseError(400);

    // The body's framing: chunked, a length, or none.
    const te = headers['transfer-encoding'];
    const cl = headers['content-length'];
    let length = 0;
    let chunked = false;
    if (te !== undefined) {
      if (!http11 || cl !== undefined || te.toLowerCase() !== 'chunked') throw new ParseError(400);
      chunked = true;
    } else if (cl !== undefined) {
      if (!DIGITS.test(cl)) throw new ParseError(400);
      length = Number(cl);
    }
    // Expect means something only in HTTP/1.1 (RFC 9110, 10.1.1).
    const expect = http11 ? headers.expect : undefined;
    if (expect !== undefined && expect.toLowerCase() !== '100-continue') throw new ParseError(417);

    const connection = headers.connection;
    if (connection === undefined) this.keepAlive = http11;
    else {
      const tokens = connection.toLowerCase();
      this.keepAlive = http11 ? !/(^|,)\s*close\s*(,|$)/.test(tokens) : /(^|,)\s*keep-alive\s*(,|$)/.test(tokens);
    }

    const head: RequestHead = { method, target, headers };
    this.head = head;
    const begun = this.server.api.begin(head);
    const hasBody = chunked || length > 0;
    if (typeof begun !== 'function') {
      // Answered from the head. A body within the limit is still read (invited, if the client
      // waits to be) and thrown away, as node:http does, so the connection stays in step; a
      // longer one closes the connection instead.
      this.onBody = undefined;
      if (length > this.server.api.maxBodyBytes) {
        this.answer({ ...begun, close: true }, now);
        return;
      }
      if (hasBody && expect !== undefined) this.out += CONTINUE;
      this.answer(begun, now);
      if (hasBody && this.state !== State.Closed) this.readBody(chunked, length);
      return;
    }
    this.onBody = begun;
    if (length > this.server.api.maxBodyBytes) {
      this.refuseBody();
      return;
    }
    if (!hasBody) {
      this.answer(begun(Buffer.alloc(0)), now);
      return;
    }
    if (expect !== undefined) this.out += CONTINUE;
    this.readBody(chunked, length);
  }

  private readBody(chunked: boolean, length: number): void {
    this.chunks = [];
    this.received = 0;
    this.trailerBytes = 0;
    this.remaining = length;
    this.state = chunked ? State.ChunkSize : State.Length;
  }

  /** Takes `n` body bytes from the buffer: kept for the API, or thrown away. */
  private take(n: number): void {
    const buf = this.buf as Buffer;
    if (this.onBody !== undefined) this.chunks.push(n === buf.length ? buf : buf.subarray(0, n));
    this.received += n;
    this.remaining -= n;
    this.consume(n);
  }

  private endBody(now: number): void {
    const onBody = this.onBody;
    const chunks = this.chunks;
    this.chunks = [];
    this.onBody = undefined;
    this.state = State.Head;
    if (onBody === undefined) {
      // The answer went out with the head; this body was only read to keep the connection.
      this.requestStart = this.buf === undefined ? -1 : now;
      return;
    }
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, this.received);
    this.answer(onBody(body), now);
  }

  /** 413 for a body past the limit; the connection closes after it. */
  private refuseBody(): void {
    this.onBody = undefined;
    this.answer(this.server.api.payloadTooLarge(), Date.now());
  }

  private answer(answer: Answer, now: number): void {
    const head = this.head as RequestHead;
    const keep = this.keepAlive && !answer.close && !this.server.draining;
    let text = statusLine(answer.status);
    const body = answer.body;
    const status = answer.status;
    if (status !== 204 && status !== 304) text += `${JSON_TYPE_LINE}Content-Length: ${Buffer.byteLength(body)}\r\n`;
    const extra = answer.headers;
    for (let i = 0; i < extra.length; i += 2) text += `${extra[i]}: ${extra[i + 1]}\r\n`;
    text += currentDateLine(now);
    text += keep ? this.server.keepAliveLines : 'Connection: close\r\n';
    text += CRLF;
    if (head.method !== 'HEAD') text += body;
    this.out += text;
    this.server.onAnswer?.(head, status, this.requestStart);
    this.head = undefined;
    this.requestStart = now; // the next request on the connection starts no earlier
    if (!keep) this.close();
  }

  /** Stops taking requests; the socket closes once the answers so far are written. */
  private close(): void {
    this.state = State.Closed;
    this.buf = undefined;
    this.chunks = [];
  }

  /** Writes the answers of this batch in one write; then ends the socket if closing. */
  private flush(): void {
    const socket = this.socket;
    // The client has sent all it will: once what it sent is answered, the connection ends.
    if (this.peerEnded && !this.blocked && this.state !== State.Closed) this.close();
    if (this.out !== '') {
      socket.write(this.out);
      this.out = '';
    }
    if (this.state === State.Closed) {
      // Half-close: the client reads every answer; what it still sends is read and thrown away
      // (a socket closed with unread data is reset, which can destroy the answer), for a while.
      // The linger starts once the answers are all written; a client that stops reading them is
      // dropped by the server's check.
      socket.end();
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

  /** A line of at most `max` bytes ending in CRLF, taken from the buffer; undefined if not all in. */
  private line(max: number, tooLong: number): string | undefined {
    const buf = this.buf as Buffer;
    const end = buf.indexOf('\r\n', 0, 'latin1');
    if (end === -1) {
      if (buf.length > max) throw new ParseError(tooLong);
      return undefined;
    }
    if (end > max) throw new ParseError(tooLong);
    const line = buf.toString('latin1', 0, end);
    this.consume(end + 2);
    return line;
  }

  private consume(n: number): void {
    const buf = this.buf as Buffer;
    this.buf = n >= buf.length ? undefined : buf.subarray(n);
  }
}

/**
 * A net.Server speaking HTTP/1.1 to kv_store's API, with node:http's server methods for
 * shutting down (closeIdleConnections, closeAllConnections) and a drain mode.
 */
export class WireServer extends Server {
  readonly maxHeadBytes: number;
  readonly keepAliveLines: string;
  readonly onAnswer: WireServerOptions['onAnswer'];
  readonly onError: WireServerOptions['onError'];
  draining = false;
  private readonly clients = new Set<Connection>();
  private checker: NodeJS.Timeout | undefined;

  constructor(
    readonly api: Api,
    private readonly options: WireServerOptions,
  ) {
    // Half-open: when a client ends its side, the requests it sent are still answered (onEnd).
    super({ noDelay: true, allowHalfOpen: true });
    this.maxHeadBytes = options.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES;
    // Keep-Alive says in whole seconds how long the connection may idle; never more than it may.
    const seconds = Math.floor(options.keepAliveTimeoutMs / 1000);
    this.keepAliveLines = `Connection: keep-alive\r\n${seconds > 0 ? `Keep-Alive: timeout=${seconds}\r\n` : ''}`;
    this.onAnswer = options.onAnswer;
    this.onError = options.onError;
    this.maxConnections = options.maxConnections;
    this.on('connection', (socket: Socket) => this.accept(socket));
    this.on('listening', () => this.startChecking());
    this.on('close', () => this.stopChecking());
  }

  /** From now on every answer says Connection: close and ends its connection (shutdown). */
  drain(): void {
    this.draining = true;
  }

  /** Closes the connections that are between requests. */
  closeIdleConnections(): void {
    for (const c of this.clients) if (c.idle && c.socket.writableLength === 0) c.socket.destroy();
  }

  closeAllConnections(): void {
    for (const c of this.clients) c.socket.destroy();
  }

  private accept(socket: Socket): void {
    const connection = new Connection(socket, this, Date.now());
    this.clients.add(connection);
    socket.on('data', (chunk: Buffer) => connection.onData(chunk));
    socket.on('end', () => connection.onEnd());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.clients.delete(connection));
  }

  /** Enforces the timeouts, as node:http does, by a periodic check of every connection. */
  private startChecking(): void {
    if (this.checker !== undefined) return;
    const { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs } = this.options;
    const every = Math.min(1000, Math.max(100, Math.floor(Math.min(headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs) / 4)));
    this.checker = setInterval(() => {
      const now = Date.now();
      for (const c of this.clients) {
        const socket = c.socket;
        if (socket.writableLength > 0) {
          // Answers still going out: the connection is busy, not idle or slow to send, unless
          // the client has stopped reading them for longer than a keep-alive.
          const written = bytesSent(socket);
          if (written !== c.lastWritten) {
            c.lastWritten = written;
            c.lastProgress = now;
          } else if (now - c.lastProgress > keepAliveTimeoutMs) socket.destroy();
          if (c.requestStart < 0) c.idleSince = now;
          continue;
        }
        if (!c.open) continue;
        if (c.requestStart < 0) {
          if (now - c.idleSince > keepAliveTimeoutMs) c.socket.destroy();
        } else if (now - c.requestStart > (c.inHead ? headersTimeoutMs : requestTimeoutMs)) {
          c.timeout();
        }
      }
    }, every);
    this.checker.unref();
  }

  private stopChecking(): void {
    clearInterval(this.checker);
    this.checker = undefined;
  }
}
