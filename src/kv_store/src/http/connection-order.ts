import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** What Node itself would answer to a request it cannot parse. */
const CLIENT_ERROR_STATUS: Readonly<Record<string, number>> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

/** Longest wait for the answers before a broken request, which may itself be what never ends. */
const CLIENT_ERROR_WAIT_MS = 1000;

/**
 * Keeps each connection's answers in the order of its requests. Node hands over pipelined
 * requests at once, so a write that waits for its body would let the next request on the same
 * connection run first; here a request waits for the one before it while that one is still
 * being answered, and broken HTTP is answered only after them. Also marks every answer
 * `Connection: close` once draining, so clients stop reusing connections during shutdown.
 */
export class ConnectionOrder {
  private readonly answering = new WeakMap<Duplex, Promise<unknown>>();
  private readonly unanswered = new Set<ServerResponse>();
  private draining = false;

  /** Runs `answer` (a promise when it waits for the body) in its connection's turn. */
  run(req: IncomingMessage, res: ServerResponse, answer: () => Promise<void> | undefined): void {
    const socket = req.socket;
    const turn = (): Promise<void> | undefined => {
      if (this.draining) res.setHeader('connection', 'close');
      return answer();
    };
    const before = this.answering.get(socket);
    const pending = before === undefined ? turn() : before.then(turn);
    if (pending === undefined) return;
    this.answering.set(socket, pending);
    this.unanswered.add(res);
    void pending.then(() => {
      this.unanswered.delete(res);
      if (this.answering.get(socket) === pending) this.answering.delete(socket);
    });
  }

  /** The server's 'clientError' listener: answers (400, 408, 413 or 431) after what came before, then closes. */
  readonly onClientError = (err: NodeJS.ErrnoException, socket: Duplex): void => {
    const reply = (): void => {
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      const status = CLIENT_ERROR_STATUS[err.code ?? ''] ?? 400;
      socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    const before = this.answering.get(socket);
    if (before === undefined || err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      reply();
      return;
    }
    const timer = setTimeout(reply, CLIENT_ERROR_WAIT_MS);
    void before.then(() => {
      clearTimeout(timer);
      reply();
    });
  };

  /** From now on every answer, including those not yet sent, says Connection: close. */
  drain(): void {
    this.draining = true;
    for (const res of this.unanswered) if (!res.headersSent) res.setHeader('connection', 'close');
  }
}
