import { isJsonObject, type JsonValue, keyPath } from '@kv/shared';
import { KvError } from './kv-error.js';
import { KvUnreachableError } from './kv-unreachable-error.js';
import type { ExchangeSettings } from './raw-exchange.js';

/** What a watch follows and from where. */
export interface WatchOptions {
  /** One key; or else a range: */
  readonly key?: string | undefined;
  readonly prefix?: string | undefined;
  readonly start?: string | undefined;
  readonly end?: string | undefined;
  /** The changes after this revision (a listing's revision, or the last one seen); default: from now on. */
  readonly after?: number | undefined;
  /** false leaves values out of changes. */
  readonly values?: boolean | undefined;
  /** true adds each key's previous value (`prev`). */
  readonly prev?: boolean | undefined;
  /** Ends the watch (the iterator finishes). */
  readonly signal?: AbortSignal | undefined;
  /** A connection silent this long is dropped and made again (the store sends progress at least every 15 s); 45 s by default. */
  readonly idleTimeoutMs?: number | undefined;
  /** The longest wait between reconnection attempts; 5 s by default (it starts at 100 ms and doubles). */
  readonly maxRetryDelayMs?: number | undefined;
}

/** One change of a watch. */
export interface Change {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly revision: number;
  /** A put's value (unless values: false). */
  readonly value?: JsonValue;
  readonly version?: number;
  readonly expiresAt?: string | null;
  readonly reason?: 'delete' | 'expired' | 'txn';
  /** With prev: true, what the key held before (null when it was absent). */
  readonly prev?: { readonly value: JsonValue; readonly version: number; readonly revision: number } | null;
}

/** Everything one revision changed (a transaction's changes come together). */
export interface WatchEvent {
  readonly revision: number;
  readonly changes: readonly Change[];
}

/**
 * The store no longer holds every change this watch needs: its bounded history moved on, or the
 * store's history was lost (another KV-Store-Id). The recovery: list again (KvClient.list) and
 * watch with after=<the listing's revision>.
 */
export class KvHistoryCompactedError extends KvError {
  override readonly name: string = 'KvHistoryCompactedError';

  constructor(
    /** The watch's position: every change up to it was delivered. */
    readonly after: number,
    /** The oldest revision the store still holds; undefined when its history was lost. */
    readonly oldestRevision: number | undefined,
    why: string,
  ) {
    super(410, 'history_compacted', `${why}; list again, then watch with after=<the listing's revision>`, { oldestRevision });
  }
}

const DEFAULT_IDLE_TIMEOUT_MS = 45_000;
const FIRST_RETRY_MS = 100;
const DEFAULT_MAX_RETRY_MS = 5000;
/** Statuses worth trying again: the store is busy or a proxy lost it. */
const RETRYABLE = new Set([429, 502, 503, 504]);

/**
 * A watch as an async iterator of WatchEvents, in revision order. It follows the store's
 * NDJSON stream and, whenever the connection ends or drops (a network error, a restart of the
 * stream, a slow_consumer cut-off), connects again from the last revision it knows was
 * delivered (`revision`), so nothing is missed and nothing comes twice. It ends when the
 * caller stops iterating (break) or the signal aborts; it throws KvHistoryCompactedError when
 * the store cannot resume it, and KvError for a refusal (400, 401, 403).
 */
export class Watch implements AsyncIterable<WatchEvent> {
  /** Every change watched up to this revision has been delivered (or is being). */
  revision: number | undefined;
  /** The store's id, from the first answer. */
  storeId: string | undefined;
  /** Connections made so far. */
  connections = 0;

  constructor(
    private readonly settings: ExchangeSettings,
    private readonly options: WatchOptions,
  ) {
    this.revision = options.after;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    let delay = FIRST_RETRY_MS;
    const maxDelay = this.options.maxRetryDelayMs ?? DEFAULT_MAX_RETRY_MS;
    const aborted = () => this.options.signal?.aborted === true;
    while (!aborted()) {
      const controller = new AbortController();
      const stop = () => controller.abort();
      this.options.signal?.addEventListener('abort', stop);
      try {
        const body = await this.connect(controller.signal);
        if (body === undefined) {
          await sleep(delay, this.options.signal);
          delay = Math.min(maxDelay, delay * 2);
          continue;
        }
        let progressed = false;
        for await (const line of lines(body, controller, this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS)) {
          const event = this.handle(line);
          progressed = true;
          if (event !== undefined) yield event;
        }
        if (progressed) delay = FIRST_RETRY_MS;
      } catch (err) {
        if (err instanceof KvError) throw err;
        if (aborted()) return;
        // The connection failed or dropped: try again from where we are.
      } finally {
        this.options.signal?.removeEventListener('abort', stop);
        controller.abort();
      }
      if (aborted()) return;
      await sleep(delay, this.options.signal);
      delay = Math.min(maxDelay, delay * 2);
    }
  }

  /** Opens the stream from `revision`; undefined when the store asks to be tried later. */
  private async connect(signal: AbortSignal): Promise<ReadableStream<Uint8Array> | undefined> {
    const o = this.options;
    const parts = ['watch=true'];
    const add = (name: string, value: string | number | boolean | undefined) => {
      if (value !== undefined) parts.push(`${name}=${encodeURIComponent(String(value))}`);
    };
    if (o.key === undefined) {
      add('prefix', o.prefix);
      add('start', o.start);
      add('end', o.end);
    }
    add('after', this.revision);
    add('values', o.values);
    add('prev', o.prev);
    const url = `${this.settings.baseUrl}${o.key === undefined ? '/v1/' : keyPath(o.key)}?${parts.join('&')}`;
    const headers: Record<string, string> = { accept: 'application/x-ndjson' };
    if (this.settings.token !== undefined) headers.authorization = `Bearer ${this.settings.token}`;
    this.connections++;
    const response = await this.settings.fetch(url, { headers, signal, redirect: 'manual' });
    const storeId = response.headers.get('kv-store-id') ?? undefined;
    if (response.status === 200 && response.body !== null) {
      if (this.storeId !== undefined && storeId !== undefined && storeId !== this.storeId) {
        throw new KvHistoryCompactedError(
          this.revision ?? 0,
          undefined,
          `the store's history was lost (its KV-Store-Id changed from ${this.storeId} to ${storeId})`,
        );
      }
      this.storeId ??= storeId;
      return response.body;
    }
    const text = await response.text();
    if (RETRYABLE.has(response.status)) return undefined;
    let error: unknown;
    try {
      error = (JSON.parse(text) as { error?: unknown }).error;
    } catch {
      error = undefined;
    }
    if (isJsonObject(error) && typeof error.code === 'string' && typeof error.message === 'string') {
      const { code, message, ...details } = error;
      if (code === 'history_compacted') {
        const oldest = typeof details.oldestRevision === 'number' ? details.oldestRevision : undefined;
        throw new KvHistoryCompactedError(
          this.revision ?? 0,
          oldest,
          `the store no longer holds every change after revision ${this.revision}`,
        );
      }
      throw new KvError(response.status, code, message, details);
    }
    throw new KvUnreachableError(
      'invalid_response',
      url,
      `kv_store at ${url} answered a watch with ${response.status} and no contract error`,
    );
  }

  /** One NDJSON line of the stream: a change to deliver, or progress, or the end of this connection. */
  private handle(line: string): WatchEvent | undefined {
    const message = JSON.parse(line) as {
      type: string;
      revision?: number;
      changes?: Change[];
      resumeAfter?: number;
      oldestRevision?: number;
    };
    switch (message.type) {
      case 'change':
        this.revision = message.revision as number;
        return { revision: message.revision as number, changes: message.changes ?? [] };
      case 'progress':
        this.revision = message.revision;
        return undefined;
      case 'error':
        // slow_consumer: everything up to resumeAfter was sent; the loop reconnects from there.
        if (typeof message.resumeAfter === 'number') this.revision = message.resumeAfter;
        return undefined;
      case 'compacted':
        throw new KvHistoryCompactedError(
          this.revision ?? 0,
          message.oldestRevision,
          'the store moved its history past this watch while it caught up',
        );
      default:
        return undefined;
    }
  }
}

/** The lines of an NDJSON body; aborts the connection when nothing comes for `idleMs`. */
async function* lines(body: ReadableStream<Uint8Array>, controller: AbortController, idleMs: number): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(), idleMs);
    timer.unref?.();
  };
  try {
    arm();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      arm();
      buffered += decoder.decode(value, { stream: true });
      let end = buffered.indexOf('\n');
      while (end !== -1) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        if (line !== '') yield line;
        end = buffered.indexOf('\n');
      }
    }
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => undefined);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done);
  });
}
