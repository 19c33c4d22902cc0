import { connect, type Socket } from 'node:net';

/** One Server-Sent Event as a client dispatches it. */
export interface SseEvent {
  readonly id: string;
  readonly event: string;
  readonly data: string;
}

/**
 * An EventSource as a browser runs it (WHATWG HTML, "Server-sent events"), over a raw socket:
 * it sends `Accept: text/event-stream` and, once it has one, `Last-Event-ID`; it parses the
 * chunked body into events (id, event, data, retry; comments skipped); and when the connection
 * ends or drops after a 200, it reconnects after the `retry` delay with the last event id. A
 * status other than 200 closes it for good, as it does a browser's.
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  /** The request heads it sent, one per connection. */
  readonly requests: string[] = [];
  /** Statuses of its connections. */
  readonly statuses: number[] = [];
  lastEventId = '';
  retryMs = 3000;
  closed = false;
  private socket: Socket | undefined;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly port: number,
    private readonly path: string,
  ) {
    this.open();
  }

  /** Waits (a hang guard of `timeoutMs`, not a timing) until `check` holds of the events. */
  async until(check: (events: readonly SseEvent[]) => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check(this.events)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  /** The network drops: the socket is destroyed, and the client reconnects as a browser would. */
  drop(): void {
    this.socket?.destroy();
  }

  close(): void {
    this.closed = true;
    this.socket?.destroy();
  }

  private open(): void {
    const head =
      `GET ${this.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n` +
      `${this.lastEventId === '' ? '' : `Last-Event-ID: ${this.lastEventId}\r\n`}\r\n`;
    this.requests.push(head);
    const socket = connect(this.port, '127.0.0.1');
    this.socket = socket;
    socket.write(head);
    let raw = Buffer.alloc(0);
    let inBody = false;
    let text = '';
    let ok = false;
    socket.on('data', (data: Buffer) => {
      raw = Buffer.concat([raw, data]);
      if (!inBody) {
        const end = raw.indexOf('\r\n\r\n');
        if (end === -1) return;
        const status = Number(raw.subarray(9, 12).toString());
        this.statuses.push(status);
        ok = status === 200;
        raw = raw.subarray(end + 4);
        inBody = true;
        if (!ok) {
          this.closed = true;
          socket.destroy();
          return;
        }
      }
      // Chunked: <hex size>\r\n<data>\r\n ... 0\r\n\r\n
      for (;;) {
        const line = raw.indexOf('\r\n');
        if (line === -1) break;
        const size = Number.parseInt(raw.subarray(0, line).toString(), 16);
        if (raw.length < line + 2 + size + 2) break;
        text += raw.subarray(line + 2, line + 2 + size).toString('utf8');
        raw = raw.subarray(line + 2 + size + 2);
        if (size === 0) socket.end();
      }
      text = this.dispatch(text);
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      if (!this.closed) setTimeout(() => this.open(), this.retryMs);
    });
  }

  /** Dispatches every complete event in `text`; returns what is left. */
  private dispatch(text: string): string {
    for (;;) {
      const end = text.indexOf('\n\n');
      if (end === -1) return text;
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      let event = 'message';
      let data: string | undefined;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') this.lastEventId = value;
        else if (field === 'event') event = value;
        else if (field === 'data') data = data === undefined ? value : `${data}\n${value}`;
        else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
      }
      if (data !== undefined) this.events.push({ id: this.lastEventId, event, data });
      for (const wake of this.waiters.splice(0)) wake();
    }
  }
}
