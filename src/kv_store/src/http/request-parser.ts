import { Refusal } from '@kv/shared';
import type { RequestHead } from '../api/door.js';

/*
 * An incremental HTTP/1.1 request parser. It is handed bytes (`push`), finds request heads and
 * bodies, and tells its handler (events); it never touches a socket, so the connection decides
 * what to do with each request, and tests can drive it with any split of the bytes.
 *
 * It is strict where leniency is a risk: request smuggling (Content-Length with
 * Transfer-Encoding, repeated or malformed lengths, framing headers in chunked trailers),
 * obs-fold, control characters, bare LF, a missing Host and unknown transfer codings throw a
 * ParseError with the status to refuse with; the connection closes after the refusal.
 */

/** Malformed HTTP: the status to refuse it with. */
export class ParseError extends Refusal {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

/** What the head says about the body and the connection. */
export interface Framing {
  readonly chunked: boolean;
  /** Content-Length (0 when chunked or absent). */
  readonly length: number;
  /** True when there is a body to read. */
  readonly hasBody: boolean;
  /** The client waits for 100 Continue before sending the body. */
  readonly expectContinue: boolean;
  /** The connection may carry another request after this one (HTTP/1.1 default, Connection header). */
  readonly keepAlive: boolean;
}

/** What the connection wants done with a body: kept for the API, read and thrown away, or not read at all. */
export type BodyPlan = 'keep' | 'discard' | 'stop';

export interface ParserEvents {
  /** A request head is in. The answer says what to do with its body. */
  onHead(head: RequestHead, framing: Framing): BodyPlan;
  /** The whole body of a kept request is in. */
  onBody(body: Buffer): void;
  /** A thrown-away body has been read to its end. */
  onBodyDiscarded(): void;
  /** A kept chunked body has grown past `maxBodyBytes`; nothing more is parsed. */
  onBodyTooLarge(): void;
  /** Checked before each head: false makes the parser wait (answers pending, output backed up). */
  mayParseHead(): boolean;
}

export interface ParserLimits {
  /** Largest request head (request line and headers); also bounds the trailers. */
  readonly maxHeadBytes: number;
  readonly maxBodyBytes: number;
}

/** The longest chunk-size line (size and extensions) of a chunked body. */
const MAX_CHUNK_LINE = 1024;

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
// Framing headers have no place in a trailer section: a body's length is settled by then.
const FORBIDDEN_TRAILERS = new Set(['content-length', 'transfer-encoding', 'host']);
const CRLF = '\r\n';

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
  /** Done: nothing more is parsed (the connection is closing). */
  Stopped,
}

export class RequestParser {
  private state = State.Head;
  private buf: Buffer | undefined;
  /** Where the search for the end of the head resumes. */
  private scanFrom = 0;
  /** Whether the body being read is kept (for onBody) or thrown away. */
  private keeping = false;
  private chunks: Buffer[] = [];
  private received = 0;
  private remaining = 0;
  private trailerBytes = 0;

  constructor(
    private readonly limits: ParserLimits,
    private readonly events: ParserEvents,
  ) {}

  /** True while nothing of a request is buffered or being read. */
  get betweenRequests(): boolean {
    return this.state === State.Head && this.buf === undefined;
  }

  /** True while a request head is awaited or being received. */
  get inHead(): boolean {
    return this.state === State.Head;
  }

  get stopped(): boolean {
    return this.state === State.Stopped;
  }

  /** Bytes received and not yet parsed. */
  get buffered(): number {
    return this.buf?.length ?? 0;
  }

  /** Takes more bytes (or none, to go on after a wait) and parses as far as it may. Throws ParseError. */
  push(chunk: Buffer | undefined): void {
    if (this.stopped) return;
    if (chunk !== undefined) this.buf = this.buf === undefined ? chunk : Buffer.concat([this.buf, chunk]);
    // A step may stop the parser (an event closes the connection), so the state is read anew each time.
    while (this.buf !== undefined && !this.stopped) {
      if (!this.step(this.buf)) return;
    }
  }

  /** Parses nothing more; what arrives is dropped. */
  stop(): void {
    this.state = State.Stopped;
    this.buf = undefined;
    this.chunks = [];
  }

  /** One step of the state machine; false when it needs more bytes (or may not go on). */
  private step(buf: Buffer): boolean {
    switch (this.state) {
      case State.Head:
        return this.events.mayParseHead() && this.parseHead();
      case State.Length:
        this.take(Math.min(this.remaining, buf.length));
        if (this.remaining > 0) return false;
        this.endBody();
        return true;
      case State.ChunkSize: {
        const line = this.line(MAX_CHUNK_LINE, 413);
        if (line === undefined) return false;
        const m = CHUNK_LINE.exec(line);
        if (m === null) throw new ParseError(400);
        this.remaining = Number.parseInt(m[1] as string, 16);
        this.state = this.remaining === 0 ? State.Trailer : State.ChunkData;
        if (this.received + this.remaining > this.limits.maxBodyBytes) {
          const kept = this.keeping;
          this.stop();
          if (kept) this.events.onBodyTooLarge();
        }
        return true;
      }
      case State.ChunkData:
        this.take(Math.min(this.remaining, buf.length));
        if (this.remaining === 0) this.state = State.ChunkEnd;
        return true;
      case State.ChunkEnd:
        if (buf.length < 2) return false;
        if (buf[0] !== 0x0d || buf[1] !== 0x0a) throw new ParseError(400);
        this.consume(2);
        this.state = State.ChunkSize;
        return true;
      case State.Trailer: {
        const line = this.line(this.limits.maxHeadBytes, 431);
        if (line === undefined) return false;
        this.trailerBytes += line.length + 2;
        if (this.trailerBytes > this.limits.maxHeadBytes) throw new ParseError(431);
        if (line === '') {
          this.endBody();
          return true;
        }
        const colon = line.indexOf(':');
        const name = colon <= 0 ? '' : line.slice(0, colon);
        if (!TOKEN.test(name) || BAD_VALUE.test(line) || FORBIDDEN_TRAILERS.has(name.toLowerCase())) throw new ParseError(400);
        return true;
      }
      default:
        return false;
    }
  }

  /** Parses a request head if the whole of it is in; false when more bytes are needed. */
  private parseHead(): boolean {
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
    const limit = this.limits.maxHeadBytes;
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
    this.startRequest(text);
    return true;
  }

  private startRequest(text: string): void {
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

    let keepAlive: boolean;
    const connection = headers.connection;
    if (connection === undefined) keepAlive = http11;
    else {
      const tokens = connection.toLowerCase();
      keepAlive = http11 ? !/(^|,)\s*close\s*(,|$)/.test(tokens) : /(^|,)\s*keep-alive\s*(,|$)/.test(tokens);
    }
    // A request that asks to switch protocols (Upgrade) or to tunnel (CONNECT) is answered, and
    // then the connection ends: what the client sends next may not be HTTP/1.1 requests.
    if (method === 'CONNECT' || headers.upgrade !== undefined) keepAlive = false;

    const hasBody = chunked || length > 0;
    const plan = this.events.onHead(
      { method, target, headers, requestId: '', route: '' },
      { chunked, length, hasBody, expectContinue: expect !== undefined, keepAlive },
    );
    // The connection may have stopped the parser while answering (the answer closes it).
    if (plan === 'stop' || this.state === State.Stopped) {
      this.stop();
      return;
    }
    this.keeping = plan === 'keep';
    if (!hasBody) {
      if (this.keeping) this.events.onBody(Buffer.alloc(0));
      return;
    }
    this.chunks = [];
    this.received = 0;
    this.trailerBytes = 0;
    this.remaining = length;
    this.state = chunked ? State.ChunkSize : State.Length;
  }

  /** Takes `n` body bytes from the buffer: kept, or thrown away. */
  private take(n: number): void {
    const buf = this.buf as Buffer;
    if (this.keeping) this.chunks.push(n === buf.length ? buf : buf.subarray(0, n));
    this.received += n;
    this.remaining -= n;
    this.consume(n);
  }

  private endBody(): void {
    const chunks = this.chunks;
    this.chunks = [];
    this.state = State.Head;
    if (!this.keeping) {
      this.events.onBodyDiscarded();
      return;
    }
    this.events.onBody(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, this.received));
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
