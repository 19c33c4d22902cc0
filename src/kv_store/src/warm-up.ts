import { connect, type Socket } from 'node:net';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { buildApp, memoryStore } from './app.js';
import type { Clock } from './clock.js';
import type { Config } from './config.js';

/*
 * The warm-up: a few seconds of scripted requests against a scratch copy of kv_store, run once
 * the real one listens, while /readyz says "warming up" (KV_WARM_UP_MS, 4 s by default; 0: none).
 *
 * Why. V8 runs a function interpreted until it has run often enough, then compiles it on a
 * helper thread. On a server given one core, that compiling takes the core from the event loop
 * just as the first load arrives: in the first second of growing a fresh process by POSTs, the
 * pause probe waited 16-27 times over 10 ms, up to 273 ms, against 1-12 times once the same
 * process had served a warm-up load from outside (docs/performance.md, "The window's first
 * second"). Deleting and expiring run code that nothing else runs, so the first mass expiry of
 * a process was its slowest too.
 *
 * What. A second app built as kv_store builds its own (the API, the HTTP/1.1 server, metrics of
 * its own), over an in-memory store of its own with a clock that can be moved, listening on an
 * ephemeral port of 127.0.0.1. A few keep-alive connections of this process send it rounds of
 * 32 pipelined requests: mostly creates (the scratch store grows as a new store under its first
 * load does), then reads, overwrites with and without a TTL, a stale If-Match, a create of an
 * existing key, a missing key, a listing, deletes and a transaction. Then the scratch store's
 * keys with a TTL expire and its sweeper's steps remove them, and the last quarter (at most a
 * second) is quiet, for the helper thread to finish compiling. Nothing of it touches the real
 * store, its metrics or its log. It runs in turns with the real server's requests (the event
 * loop serves both), so a client that does not wait for /readyz is answered meanwhile, only
 * more slowly.
 *
 * What it buys is measured in docs/performance.md ("The window's first second"): part of what a
 * warm-up from outside bought, which also grew the real store by 30,000 keys.
 */

/** How many connections the warm-up's requests take turns on. */
const CONNECTIONS = 4;
/**
 * The quiet end of a warm-up, at most. In the first second of growth after 3 s of warm-up
 * requests and a second of quiet, the probe waited over 10 ms 10 and 5 times; after 2 s or 5 s
 * of them and no quiet, 11-27 times (a fresh process: 16-27).
 */
const QUIET_MAX_MS = 1000;
/** How long past its duration the warm-up waits for answers before it gives up. */
const HANG_GUARD_MS = 10_000;

export interface WarmUpResult {
  /** Requests answered, by status. */
  readonly statuses: Readonly<Record<number, number>>;
  readonly requests: number;
  /** Entries the scratch store's sweeper expired at the end. */
  readonly expired: number;
  readonly ms: number;
}

/**
 * Runs the warm-up for about `durationMs`, or until `signal` aborts it: requests for the first
 * three quarters, then quiet for the rest (at most QUIET_MAX_MS), while the helper thread
 * finishes compiling what the requests made hot. Rejects only on a bug: a request the scratch
 * server does not answer with the status the script expects is counted under that status.
 */
export async function warmUp(config: Config, durationMs: number, signal?: AbortSignal): Promise<WarmUpResult> {
  const started = performance.now();
  const quietMs = Math.min(QUIET_MAX_MS, durationMs / 4);
  let skewMs = 0;
  const clock: Clock = { now: () => Date.now() + skewMs };
  // The limits of the real store, but no tokens, no disk, no etcd, and room for its connections.
  const scratchConfig: Config = {
    ...config,
    authToken: undefined,
    readToken: undefined,
    dataDir: undefined,
    etcd: undefined,
    maxConnections: Math.max(config.maxConnections, CONNECTIONS),
  };
  const store = memoryStore(scratchConfig, clock);
  const app = buildApp({ config: scratchConfig, clock, store, logger: pino({ level: 'silent' }) });
  const server = app.server;
  const statuses: Record<number, number> = {};
  const deadline = started + durationMs - quietMs;
  const clients: WarmClient[] = [];
  // Should the scratch server stop answering (a bug), its connections are cut: the warm-up then
  // fails, and kv_store serves without it rather than never becoming ready.
  const hangGuard = setTimeout(() => {
    for (const client of clients) client.close();
  }, durationMs + HANG_GUARD_MS);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const aborted = (): boolean => signal?.aborted === true;
    const runs: Promise<void>[] = [];
    for (let c = 0; c < CONNECTIONS; c++) {
      const client = await WarmClient.open(port);
      clients.push(client);
      runs.push(script(client, c, statuses, aborted, () => performance.now() >= deadline || aborted()));
    }
    await Promise.all(runs);
    // Every key written with a TTL expires, and the sweeper's own steps remove them.
    skewMs += 24 * 3_600_000;
    let expired = store.size;
    while (store.sweepStep()) await nextTurn();
    store.maintain();
    expired -= store.size;
    // The quiet end: an abort cuts it short (sleep rejects with an AbortError).
    const rest = started + durationMs - performance.now();
    if (rest > 0 && !aborted()) await sleep(rest, undefined, { signal }).catch(() => undefined);
    const requests = Object.values(statuses).reduce((a, b) => a + b, 0);
    return { statuses, requests, expired, ms: Math.round(performance.now() - started) };
  } finally {
    clearTimeout(hangGuard);
    for (const client of clients) client.close();
    app.drain();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await app.close();
  }
}

/** One connection's requests, a pipelined batch a round: at least one round unless `aborted`, then until `done`. */
async function script(
  client: WarmClient,
  c: number,
  statuses: Record<number, number>,
  aborted: () => boolean,
  done: () => boolean,
): Promise<void> {
  for (let i = 0; i === 0 ? !aborted() : !done(); i++) {
    const base = `warm/${c}/${i.toString(36)}`;
    const batch: WarmRequest[] = [];
    // Mostly creates, as a new store's first load is: the scratch store grows as a real one
    // does (its index doubling, new slabs, new pages of the ordered index); a third with a TTL.
    for (let k = 0; k < 12; k++) {
      batch.push([
        'POST',
        '/v1/',
        JSON.stringify({ key: `${base}/${k}`, value: { round: i, tags: ['a', 'b'] }, ttl: k % 3 === 0 ? 3600 : undefined }),
      ]);
    }
    for (let k = 0; k < 8; k++) batch.push(['GET', `/v1/${base}/${k}`]);
    for (let k = 1; k < 5; k++) batch.push(['PUT', `/v1/${base}/${k}`, JSON.stringify({ value: [i, k], ttl: k === 2 ? 3600 : undefined })]);
    batch.push(['PUT', `/v1/${base}/5`, JSON.stringify({ value: 'stale' }), 'If-Match: "0"\r\n']); // 412
    batch.push(['POST', '/v1/', JSON.stringify({ key: `${base}/6`, value: 1 })]); // 409
    batch.push(['GET', `/v1/${base}/none`]); // 404
    batch.push(['GET', `/v1/?prefix=warm/${c}/&limit=20&start=${base}`]);
    for (const k of [7, 8, 9]) batch.push(['DELETE', `/v1/${base}/${k}`]);
    const txn = {
      checks: [{ key: `${base}/10`, exists: true }],
      ops: [
        { op: 'set', key: `${base}/t`, value: i },
        { op: 'incr', key: `warm/${c}/n` },
      ],
    };
    batch.push(['POST', '/txn', JSON.stringify(txn)]);
    for (const status of await client.send(batch)) statuses[status] = (statuses[status] ?? 0) + 1;
  }
}

/** A request: method, path, JSON body, extra header lines. */
type WarmRequest = readonly [method: string, path: string, body?: string, headers?: string];

/** A keep-alive HTTP/1.1 connection to the scratch server: a batch of requests at a time, pipelined. */
class WarmClient {
  private buffered: Buffer = Buffer.alloc(0);
  private pending: { statuses: number[]; count: number; resolve: (statuses: number[]) => void; reject: (err: Error) => void } | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      this.answers();
    });
    socket.on('close', () => this.pending?.reject(new Error('the warm-up connection closed')));
  }

  static open(port: number): Promise<WarmClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new WarmClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends the requests in one write; resolves with their statuses, in order. */
  send(requests: readonly WarmRequest[]): Promise<number[]> {
    return new Promise((resolve, reject) => {
      this.pending = { statuses: [], count: requests.length, resolve, reject };
      let text = '';
      for (const [method, path, body = '', headers = ''] of requests) {
        const framing = body === '' ? '' : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
        text += `${method} ${path} HTTP/1.1\r\nHost: warm-up\r\n${framing}${headers}\r\n${body}`;
      }
      this.socket.write(text);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  /** Takes each answer whose head and body are all in (the scratch server always sends Content-Length). */
  private answers(): void {
    const pending = this.pending;
    if (pending === undefined) return;
    for (;;) {
      const end = this.buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = this.buffered.toString('latin1', 0, end);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (this.buffered.length < end + 4 + length) return;
      this.buffered = this.buffered.subarray(end + 4 + length);
      pending.statuses.push(Number(head.slice(9, 12)));
      if (pending.statuses.length === pending.count) {
        this.pending = undefined;
        pending.resolve(pending.statuses);
        return;
      }
    }
  }
}
