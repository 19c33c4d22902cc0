import { Server, type Socket } from 'node:net';
import type { AnswerObserver, ApiDoor, RequestHead } from '../api/door.js';
import { Connection, type ConnectionHost } from './connection.js';
import type { ParserLimits } from './request-parser.js';

/*
 * kv_store's HTTP/1.1 server, on node:net: it accepts connections, enforces the timeouts, and
 * drains on shutdown; each connection (connection.ts) parses (request-parser.ts) and answers
 * (response-writer.ts). node:http spends about a third of a request's CPU on its own objects
 * and streams; this server parses only what the API needs, answers in the same tick the
 * request arrives, and writes each batch of answers with one socket write. Measured:
 * docs/performance.md, "Choosing the HTTP layer".
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
  /** Called after each answer is written: the request log and metrics. */
  readonly onAnswer?: AnswerObserver | undefined;
  /** Called with an error that is a bug of kv_store's (the client got a 500 and the connection closed). */
  readonly onError?: ((err: unknown, head: RequestHead | undefined) => void) | undefined;
}

const DEFAULT_MAX_HEAD_BYTES = 16 * 1024;

/**
 * Bytes the kernel has taken from this socket so far. `bytesWritten` counts a write as soon as it
 * is handed to libuv; while one large write drains, only the handle's queue shrinks.
 */
function bytesSent(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { writeQueueSize?: number } | null })._handle;
  return socket.bytesWritten - (handle?.writeQueueSize ?? 0);
}

/**
 * A net.Server speaking HTTP/1.1 to kv_store's API through its door, with node:http's server
 * methods for shutting down (closeIdleConnections, closeAllConnections) and a drain mode.
 */
export class WireServer extends Server implements ConnectionHost {
  readonly limits: ParserLimits;
  readonly keepAliveLines: string;
  readonly onAnswer: WireServerOptions['onAnswer'];
  readonly onError: WireServerOptions['onError'];
  draining = false;
  private readonly clients = new Set<Connection>();
  private checker: NodeJS.Timeout | undefined;

  constructor(
    readonly door: ApiDoor,
    private readonly options: WireServerOptions,
  ) {
    // Half-open: when a client ends its side, the requests it sent are still answered (onEnd).
    super({ noDelay: true, allowHalfOpen: true });
    this.limits = { maxHeadBytes: options.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES, maxBodyBytes: door.maxBodyBytes };
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
    socket.on('close', () => {
      this.clients.delete(connection);
      connection.onClose();
    });
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
        // An answer pending or streaming (a watch) is the server's to finish, not a slow client.
        if (!c.open || c.busy) continue;
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
