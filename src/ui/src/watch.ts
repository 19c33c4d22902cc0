/**
 * Watch over fetch(). EventSource cannot send an Authorization header, so the UI reads the
 * `text/event-stream` itself (sse-parser.ts), and Watch keeps one watch request open, resuming
 * with `after=<last revision seen>` when it drops, until the history no longer reaches it.
 */
import { ApiError, call, errorOf } from './api.js';
import { type SseEvent, SseParser } from './sse-parser.js';

/** One change of a watch message (`values=false`: no value). */
export interface Change {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly version?: number;
  readonly revision: number;
  readonly expiresAt?: string | null;
  readonly reason?: string;
}

/** A watch message: every change of one revision. */
export interface ChangeMessage {
  readonly revision: number;
  readonly changes: readonly Change[];
}

/** How a watch is doing, for the "live" indicator. */
export type WatchStatus = 'connecting' | 'live' | 'retrying' | 'unavailable';

export interface WatchOptions {
  /** The watch request relative to /v1/, with its query but without `after`: `?watch=true&prefix=app%2F`. */
  readonly path: string;
  /** Changes after this store revision are wanted. */
  readonly after: number;
  readonly onChange: (message: ChangeMessage) => void;
  /** The history no longer reaches `after`: the owner must read the state again and watch anew. */
  readonly onCompacted: () => void;
  readonly onStatus: (status: WatchStatus) => void;
}

/** Nothing at all for this long (the server sends progress at least every 15 s) means a dead connection. */
const IDLE_LIMIT_MS = 45_000;
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 15_000;
/** A store that does not offer watch (an older kv_store) is asked again this rarely. */
const UNAVAILABLE_RETRY_MS = 60_000;

/** Keeps a watch stream open until stop(), resuming after the last revision seen. */
export class Watch {
  private after: number;
  private readonly abort = new AbortController();
  private retryMs = RETRY_FIRST_MS;

  constructor(private readonly options: WatchOptions) {
    this.after = options.after;
    void this.run();
  }

  /** Ends the stream; no callback is called afterwards. */
  stop(): void {
    this.abort.abort();
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let wait = this.retryMs;
      try {
        this.options.onStatus('connecting');
        const outcome = await this.once();
        if (outcome === 'compacted') {
          if (!this.stopped) this.options.onCompacted();
          return;
        }
        if (outcome === 'unavailable') wait = UNAVAILABLE_RETRY_MS;
        if (typeof outcome === 'number') wait = outcome;
      } catch (err) {
        // No token: the views say so and start a new watch once there is one.
        if (err instanceof ApiError && err.status === 401) {
          this.options.onStatus('unavailable');
          return;
        }
        // Otherwise a dropped connection: try again after a pause.
      }
      if (this.stopped) return;
      this.options.onStatus(wait === UNAVAILABLE_RETRY_MS ? 'unavailable' : 'retrying');
      await sleep(wait, this.abort.signal);
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    }
  }

  /** One request: reads events until the stream ends. A number is a wait the server asked for. */
  private async once(): Promise<'ended' | 'compacted' | 'unavailable' | number> {
    const separator = this.options.path.includes('?') ? '&' : '?';
    const response = await call('GET', `${this.options.path}${separator}after=${this.after}`, {
      headers: { Accept: 'text/event-stream' },
      signal: this.abort.signal,
    });
    if (response.status === 410) {
      await response.body?.cancel();
      return 'compacted';
    }
    if (response.status === 429) {
      await response.body?.cancel();
      const seconds = Number(response.headers.get('Retry-After'));
      return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : RETRY_MAX_MS;
    }
    const type = response.headers.get('Content-Type') ?? '';
    if (!response.ok || !type.startsWith('text/event-stream') || response.body === null) {
      if (!response.ok) await errorOf(response);
      else await response.body?.cancel();
      return response.status >= 500 ? 'ended' : 'unavailable';
    }
    this.options.onStatus('live');
    return this.read(response.body);
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<'ended' | 'compacted'> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser();
    let idle: ReturnType<typeof setTimeout> | undefined;
    const armIdle = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => void reader.cancel(), IDLE_LIMIT_MS);
    };
    try {
      armIdle();
      for (;;) {
        const { done, value } = await reader.read();
        if (done || this.stopped) return 'ended';
        armIdle();
        for (const event of parser.feed(decoder.decode(value, { stream: true }))) {
          const outcome = this.dispatch(event);
          if (outcome !== undefined) return outcome;
        }
      }
    } finally {
      clearTimeout(idle);
      void reader.cancel().catch(() => undefined);
    }
  }

  private dispatch(event: SseEvent): 'ended' | 'compacted' | undefined {
    if (this.stopped) return 'ended';
    if (event.event === 'change') {
      const message = JSON.parse(event.data) as ChangeMessage;
      this.after = Math.max(this.after, message.revision);
      this.retryMs = RETRY_FIRST_MS;
      this.options.onChange(message);
    } else if (event.event === 'progress') {
      const revision = Number(event.id);
      if (Number.isSafeInteger(revision)) this.after = Math.max(this.after, revision);
      this.retryMs = RETRY_FIRST_MS;
    } else if (event.event === 'compacted') {
      return 'compacted';
    } else if (event.event === 'error') {
      // slow_consumer: resume where the server says it stopped sending.
      const error = JSON.parse(event.data) as { resumeAfter?: number };
      if (typeof error.resumeAfter === 'number') this.after = error.resumeAfter;
      return 'ended';
    }
    return undefined;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
