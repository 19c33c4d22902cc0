import { connect, type Socket } from 'node:net';

/** One HTTP response read off a raw socket. */
export interface RawResponse {
  readonly status: number;
  /** Header names lower-cased; repeated headers joined with ', '. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** Interim (1xx) responses that came before this one, e.g. 100 Continue. */
  readonly interim: readonly number[];
}

/** A request to write as raw bytes; `method` tells the parser whether a body follows (HEAD). */
export interface RawRequest {
  readonly bytes: Buffer | string;
  readonly method: string;
}

/** What came back for a pipelined batch. */
export interface ExchangeResult {
  readonly responses: RawResponse[];
  /** The server closed (or reset) the connection before every request was answered. */
  readonly closed: boolean;
  /** Nothing more arrived within the time limit. */
  readonly timedOut: boolean;
  /** Socket error code seen (EPIPE, ECONNRESET...), if any. */
  readonly error: string | undefined;
}

const CRLF2 = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

/**
 * An incremental parser for HTTP/1.1 responses on one connection, in request order. Knows the
 * request methods so that HEAD answers are read without a body.
 */
export class ResponseParser {
  private buffer: Buffer = Buffer.alloc(0);
  private interim: number[] = [];
  readonly methods: string[] = [];
  /** Set when the bytes cannot be a response: the test should fail with this text. */
  garbage: string | undefined;
  /** Interim (1xx) responses read so far, e.g. the 100 Continue that says a request head was accepted. */
  interimSeen = 0;

  /** Feeds bytes; returns the responses completed by them. */
  push(chunk: Buffer): RawResponse[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const done: RawResponse[] = [];
    for (;;) {
      const response = this.next(false);
      if (response === undefined) return done;
      done.push(response);
    }
  }

  /** At end of stream: a response delimited by the close, if one was in progress. */
  finish(): RawResponse | undefined {
    return this.next(true);
  }

  private next(atEnd: boolean): RawResponse | undefined {
    if (this.garbage !== undefined || this.buffer.length === 0) return undefined;
    const headEnd = this.buffer.indexOf(CRLF2);
    if (headEnd === -1) {
      if (this.buffer.length > 65_536) this.garbage = 'response head longer than 64 KiB';
      return undefined;
    }
    const head = this.buffer.subarray(0, headEnd).toString('latin1');
    const lines = head.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
    if (m === null) {
      this.garbage = `not an HTTP response: ${JSON.stringify(head.slice(0, 200))}`;
      return undefined;
    }
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) {
        this.garbage = `bad response header line: ${JSON.stringify(line)}`;
        return undefined;
      }
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const bodyStart = headEnd + 4;
    if (status >= 100 && status < 200) {
      this.interim.push(status);
      this.interimSeen++;
      this.buffer = this.buffer.subarray(bodyStart);
      return this.next(atEnd);
    }
    const method = this.methods[0] ?? 'GET';
    let body: Buffer;
    let consumed: number;
    if (method === 'HEAD' || status === 204 || status === 304) {
      body = Buffer.alloc(0);
      consumed = bodyStart;
    } else if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
      const chunked = readChunked(this.buffer, bodyStart);
      if (chunked === undefined) return undefined;
      if (chunked === 'bad') {
        this.garbage = 'bad chunked response body';
        return undefined;
      }
      [body, consumed] = chunked;
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (this.buffer.length < bodyStart + length) return undefined;
      body = this.buffer.subarray(bodyStart, bodyStart + length);
      consumed = bodyStart + length;
    } else {
      // Delimited by the close of the connection.
      if (!atEnd) return undefined;
      body = this.buffer.subarray(bodyStart);
      consumed = this.buffer.length;
    }
    this.methods.shift();
    this.buffer = this.buffer.subarray(consumed);
    const interim = this.interim;
    this.interim = [];
    return { status, headers, body: Buffer.from(body), interim };
  }
}

function readChunked(buffer: Buffer, start: number): [Buffer, number] | undefined | 'bad' {
  const parts: Buffer[] = [];
  let i = start;
  for (;;) {
    const lineEnd = buffer.indexOf(CRLF, i);
    if (lineEnd === -1) return undefined;
    const size = Number.parseInt(buffer.subarray(i, lineEnd).toString('latin1').split(';')[0] ?? '', 16);
    if (!Number.isFinite(size) || size < 0) return 'bad';
    if (size === 0) {
      // Trailers, then an empty line.
      const end = buffer.indexOf(CRLF2, lineEnd);
      if (buffer.subarray(lineEnd, lineEnd + 4).equals(CRLF2)) return [Buffer.concat(parts), lineEnd + 4];
      if (end === -1) return undefined;
      return [Buffer.concat(parts), end + 4];
    }
    if (buffer.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
    i = lineEnd + 2 + size + 2;
  }
}

/**
 * A raw keep-alive connection that sends pipelined batches and reads the answers in order.
 * Every wait is bounded by a time limit.
 */
export class RawConnection {
  private readonly parser = new ResponseParser();
  private pending: RawResponse[] = [];
  private waiter: (() => void) | undefined;
  private closedFlag = false;
  private errorCode: string | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.pending.push(...this.parser.push(chunk));
      this.waiter?.();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.errorCode ??= err.code ?? err.message;
    });
    socket.on('close', () => {
      const last = this.parser.finish();
      if (last !== undefined) this.pending.push(last);
      this.closedFlag = true;
      this.waiter?.();
    });
  }

  /** Opens a connection to 127.0.0.1:port. */
  static open(port: number, timeoutMs = 5000): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1', noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to 127.0.0.1:${port} timed out`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new RawConnection(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  get garbage(): string | undefined {
    return this.parser.garbage;
  }

  /** Writes raw bytes without expecting an answer to them (slow senders). */
  write(bytes: Buffer | string): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Declares that `method` requests were written with write(), so their answers are expected. */
  expect(...methods: string[]): void {
    this.parser.methods.push(...methods);
  }

  /**
   * Sends the requests back to back and waits for all answers, a close, or the time limit. With
   * `end`, our side is closed after the bytes, so an incomplete request meets end-of-stream.
   */
  exchange(requests: readonly RawRequest[], timeoutMs = 10_000, end = false): Promise<ExchangeResult> {
    this.expect(...requests.map((r) => r.method));
    if (!this.socket.destroyed) {
      const bytes = Buffer.concat(requests.map((r) => (typeof r.bytes === 'string' ? Buffer.from(r.bytes, 'latin1') : r.bytes)));
      this.socket.write(bytes);
      if (end) this.socket.end();
    }
    return this.collect(requests.length, timeoutMs);
  }

  /** Waits for `count` answers (beyond those already taken), a close, or the time limit. */
  collect(count: number, timeoutMs = 10_000): Promise<ExchangeResult> {
    return new Promise((resolve) => {
      const finish = (timedOut: boolean): void => {
        clearTimeout(timer);
        this.waiter = undefined;
        const responses = this.pending.splice(0, count);
        resolve({ responses, closed: this.closedFlag, timedOut, error: this.errorCode });
      };
      const timer = setTimeout(() => finish(true), timeoutMs);
      this.waiter = () => {
        if (this.pending.length >= count || this.closedFlag || this.parser.garbage !== undefined) finish(false);
      };
      this.waiter();
    });
  }

  /**
   * Resolves true once `count` interim answers (100 Continue) have arrived on this connection:
   * the server has read the head of a request sent with `Expect: 100-continue`. False on a close
   * or after the time limit.
   */
  waitInterim(count: number, timeoutMs = 10_000): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        this.waiter = undefined;
        resolve(ok);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.waiter = () => {
        if (this.parser.interimSeen >= count) finish(true);
        else if (this.closedFlag) finish(false);
      };
      this.waiter();
    });
  }

  /** Resolves once the server closes the connection (true) or after the time limit (false). */
  waitClosed(timeoutMs: number): Promise<boolean> {
    if (this.closedFlag) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.socket.off('close', onClose);
        resolve(false);
      }, timeoutMs);
      const onClose = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.socket.once('close', onClose);
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A request's bytes: request line, headers (Host added unless given) and an optional body. */
export function rawRequest(
  method: string,
  target: string,
  headers: ReadonlyArray<readonly [string, string]> = [],
  body?: Buffer | string,
): RawRequest {
  const lines = [`${method} ${target} HTTP/1.1`];
  if (!headers.some(([name]) => name.toLowerCase() === 'host')) lines.push('Host: 127.0.0.1');
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  const payload = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  if (payload !== undefined && !headers.some(([name]) => /^(content-length|transfer-encoding)$/i.test(name))) {
    lines.push(`Content-Length: ${payload.length}`);
  }
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return { bytes: payload === undefined ? head : Buffer.concat([head, payload]), method };
}

/** A JSON write request (POST /v1/ or PUT /v1/<key>) with Content-Type: application/json. */
export function jsonRequest(
  method: string,
  target: string,
  body: Buffer | string,
  extra: ReadonlyArray<readonly [string, string]> = [],
): RawRequest {
  return rawRequest(method, target, [['Content-Type', 'application/json'], ...extra], body);
}

/** Encodes a body as chunks of the given sizes (the rest in one last chunk). */
export function chunked(body: Buffer, sizes: readonly number[] = []): Buffer {
  const parts: Buffer[] = [];
  let i = 0;
  for (const size of sizes) {
    if (i >= body.length) break;
    const piece = body.subarray(i, i + Math.max(1, size));
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, CRLF);
    i += piece.length;
  }
  if (i < body.length) parts.push(Buffer.from(`${(body.length - i).toString(16)}\r\n`), body.subarray(i), CRLF);
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}
