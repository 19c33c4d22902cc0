import type { Logger } from '../../logger.js';
import { type Change, type ChangeBatch, type HistoryCompacted, type KvStore, type MaybePromise, whenReady } from '../../store/store.js';
import { HttpError } from '../errors.js';
import { LongPoll } from './long-poll.js';
import { RangeIndex, type WatchTarget } from './range-index.js';
import { changeMessage, changesJson, type ChangeView, type StreamForm } from './watch-format.js';
import { StreamWatcher } from './watch-stream.js';

/*
 * The watch hub: one subscription to the store's change feed, fanned out to every watcher
 * (SSE and NDJSON streams, waiting long-polls), each filtered by its key or range.
 *
 * A commit costs the writer almost nothing here: the feed's listener notes the batch and, if
 * any watcher is live, schedules a flush (setImmediate), which runs after the I/O of the
 * current turn. A flush takes every batch noted since the last one, finds the watchers each
 * change concerns (RangeIndex, not a walk over all watchers), renders each batch once per
 * form and view and shares the text, and gives each watcher all its messages in one write.
 *
 * A durable store's commits wait for their log write (and, under KV_FSYNC=always, its fsync):
 * the hub shows watchers only what the store says it may (KvStore.shownRevision), so a watcher
 * never sees a change a crash could still take back. A flush offers the batches noted up to
 * there and keeps the rest until the store's unwritten() settles; the history read while
 * catching up is cut there too, and a watcher goes live there.
 *
 * A watcher that starts before the current revision catches up from the store's history on
 * its own (`live` false), at the pace its client reads, and joins the flushes once it has
 * caught up. A live watcher's client that stops reading is cut off once it has more than
 * KV_WATCH_BUFFER_BYTES unread (slow_consumer, with the revision to resume after): writers
 * never wait for a watcher.
 */

/** What the hub enforces. */
export interface WatchSettings {
  /** Most watchers (streams and waiting long-polls) at once. */
  readonly maxWatchers: number;
  /** An idle stream gets a progress event at least this often. */
  readonly progressMs: number;
  /** Unread bytes past which a stream's client is cut off. */
  readonly bufferBytes: number;
}

/** A watch, as the route has parsed it. */
export interface WatchRequest {
  readonly target: WatchTarget;
  /** Changes with a greater revision are sent. */
  readonly after: number;
  readonly view: ChangeView;
}

/** A watcher as the hub sees it: a stream or a waiting long-poll. */
export interface Subscriber {
  readonly target: WatchTarget;
  /** Takes the batches of a flush; false while it catches up from the history itself. */
  readonly live: boolean;
  /** A batch with changes it watches (`whole`: all of the batch's changes are). */
  take(batch: ChangeBatch, changes: readonly Change[], whole: boolean): void;
  /** The flush is done: everything up to `revision` has been offered. */
  flushed(revision: number): void;
}

/** 410 history_compacted for a watch from `after`, with the oldest revision still held. */
export function historyCompacted(after: number, oldestRevision: number): HttpError {
  return new HttpError(
    'history_compacted',
    `the history no longer holds every change after revision ${after} (it holds those from revision ${oldestRevision}); list again, then watch with after=<the listing's revision>`,
    {},
    { oldestRevision },
  );
}

/** Why a stream was ended for its watcher rather than by it: the code of its last message. */
export type EvictionReason = 'slow_consumer' | 'history_compacted';

/** Retry-After of a 429 too_many_watchers, in seconds. */
const RETRY_AFTER_S = '5';

export class WatchHub {
  private readonly index = new RangeIndex<Subscriber>();
  private readonly streams = new Set<StreamWatcher>();
  private readonly polls = new Set<LongPoll>();
  /** Watchers counted against maxWatchers: from the answer's making to its end. */
  private slots = 0;
  /** Streams cut off since start, by why: for kv_watch_evictions_total. */
  readonly evictions: Record<EvictionReason, number> = { slow_consumer: 0, history_compacted: 0 };
  private liveCount = 0;
  private pending: ChangeBatch[] = [];
  private flushScheduled = false;
  /** Rendered messages of the current flush: per batch, per form and view. */
  private rendered = new Map<ChangeBatch, Array<string | undefined>>();
  private readonly timer: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  /** The newest revision the feed announced. */
  head: number;
  /** Every batch up to this revision has been offered to the live watchers. */
  flushedThrough: number;
  closed = false;

  constructor(
    readonly store: KvStore,
    readonly settings: WatchSettings,
    private readonly logger?: Logger,
  ) {
    this.head = store.revision;
    this.flushedThrough = store.revision;
    this.unsubscribe = store.subscribe((batch) => this.onBatch(batch));
    const every = Math.max(5, Math.floor(settings.progressMs / 2));
    this.timer = setInterval(() => this.progress(), every);
    this.timer.unref();
  }

  /** Watchers now (streams and waiting long-polls). */
  get watchers(): number {
    return this.slots;
  }

  /** Counts a watcher about to be answered; 429 too_many_watchers past the limit. */
  reserve(): void {
    if (this.slots >= this.settings.maxWatchers) {
      throw new HttpError(
        'too_many_watchers',
        `the store serves its limit of ${this.settings.maxWatchers} watchers (KV_MAX_WATCHERS); retry later`,
        { 'retry-after': RETRY_AFTER_S },
      );
    }
    this.slots++;
  }

  /** A stream (SSE or NDJSON) from `request.after` on; the answer's stream starts it. */
  openStream(request: WatchRequest, form: StreamForm): StreamWatcher {
    this.reserve();
    return new StreamWatcher(this, request, form);
  }

  /** A long-poll: at once if a change after `request.after` is held, else when one comes or after `waitMs`. */
  poll(request: WatchRequest, waitMs: number): MaybePromise<string> {
    return LongPoll.answer(this, request, waitMs);
  }

  /** The newest revision watchers may be shown: the head, or less while the store's newest commits wait for their log write. */
  get shownHead(): number {
    const shown = this.store.shownRevision?.();
    return shown === undefined || shown >= this.head ? this.head : shown;
  }

  /** The store's history after `after`, in chunks, up to what watchers may be shown. */
  history(after: number, limit: number): MaybePromise<readonly ChangeBatch[] | HistoryCompacted> {
    return whenReady(this.store.changesSince(after, limit), (held) => {
      if ('compacted' in held || held.length === 0) return held;
      const shown = this.shownHead;
      let n = held.length;
      while (n > 0 && (held[n - 1] as ChangeBatch).revision > shown) n--;
      return n === held.length ? held : held.slice(0, n);
    });
  }

  /** A watcher begins to take part (its stream started, or its long-poll waits). */
  attach(subscriber: Subscriber): void {
    this.index.add(subscriber, subscriber.target);
    if (subscriber instanceof StreamWatcher) this.streams.add(subscriber);
    else if (subscriber instanceof LongPoll) this.polls.add(subscriber);
  }

  /** A watcher that was attached has caught up: it takes flushes from now on. */
  wentLive(): void {
    this.liveCount++;
  }

  /** A watcher is done: out of the index, its slot given back. Call once per reserve. */
  detach(subscriber: Subscriber | undefined, attached: boolean): void {
    this.slots--;
    if (subscriber === undefined || !attached) return;
    this.index.remove(subscriber, subscriber.target);
    if (subscriber.live) this.liveCount--;
    if (subscriber instanceof StreamWatcher) this.streams.delete(subscriber);
    else if (subscriber instanceof LongPoll) this.polls.delete(subscriber);
  }

  /** The message of `batch` when a watcher takes all of it: rendered once per form and view in a flush. */
  message(batch: ChangeBatch, form: StreamForm, view: ChangeView): string {
    const variant = (form === 'sse' ? 1 : 0) | (view.values ? 2 : 0) | (view.prev ? 4 : 0);
    let texts = this.rendered.get(batch);
    if (texts === undefined) {
      texts = [];
      this.rendered.set(batch, texts);
    }
    let text = texts[variant];
    if (text === undefined) {
      text = changeMessage(form, batch.revision, changesJson(batch.changes, view));
      texts[variant] = text;
    }
    return text;
  }

  /** Ends every stream and answers every long-poll, and takes no more batches (shutdown). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.unsubscribe();
    for (const stream of [...this.streams]) stream.end();
    for (const poll of [...this.polls]) poll.timeUp();
  }

  private onBatch(batch: ChangeBatch): void {
    this.head = batch.revision;
    // A batch not yet shown is kept even with no live watcher: one may go live before it is.
    if (this.liveCount === 0 && this.pending.length === 0 && batch.revision <= this.shownHead) {
      this.flushedThrough = batch.revision;
      return;
    }
    this.pending.push(batch);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const pending = this.pending;
    const shown = this.shownHead;
    let n = 0;
    while (n < pending.length && (pending[n] as ChangeBatch).revision <= shown) n++;
    const batches = n === pending.length ? pending : pending.slice(0, n);
    this.pending = n === pending.length ? [] : pending.slice(n);
    // The rest waits for the store's log (a full disk holds it longer: then the next commit or
    // the progress timer flushes again).
    if (this.pending.length > 0) void this.store.unwritten?.()?.then(() => this.scheduleFlush());
    if (batches.length === 0) return;
    const touched = new Set<Subscriber>();
    try {
      for (const batch of batches) this.offer(batch, touched);
    } catch (err) {
      this.logger?.error({ err }, 'watch: a flush failed');
    }
    const last = batches.at(-1);
    if (last !== undefined) this.flushedThrough = last.revision;
    this.rendered = new Map();
    for (const subscriber of touched) subscriber.flushed(this.flushedThrough);
  }

  /** Offers one batch to the live watchers it concerns. */
  private offer(batch: ChangeBatch, touched: Set<Subscriber>): void {
    const changes = batch.changes;
    if (changes.length === 1) {
      this.index.forEachMatch((changes[0] as Change).key, (s) => {
        if (!s.live) return;
        s.take(batch, changes, true);
        touched.add(s);
      });
      return;
    }
    // A transaction: each watcher gets the changes of the batch it watches, in one message.
    const matches = new Map<Subscriber, Change[]>();
    for (const change of changes) {
      this.index.forEachMatch(change.key, (s) => {
        if (!s.live) return;
        const list = matches.get(s);
        if (list === undefined) matches.set(s, [change]);
        else if (list.at(-1) !== change) list.push(change);
      });
    }
    for (const [s, list] of matches) {
      s.take(batch, list, list.length === changes.length);
      touched.add(s);
    }
  }

  /** Progress to idle streams: everything up to the last flush has been sent. */
  private progress(): void {
    if (this.pending.length > 0) this.scheduleFlush();
    const idleSince = Date.now() - this.settings.progressMs / 2;
    for (const stream of this.streams) stream.progress(idleSince, this.flushedThrough);
  }
}
