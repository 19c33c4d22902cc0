import { type Change, type ChangeBatch, type HistoryCompacted, inKeyRange } from '../../store/store.js';
import type { AnswerStream, StreamSink } from '../door.js';
import type { WatchTarget } from './range-index.js';
import {
  type ChangeView,
  changeMessage,
  changesJson,
  compactedMessage,
  errorMessage,
  progressMessage,
  SSE_PREAMBLE,
  type StreamForm,
} from './watch-format.js';
import type { Subscriber, WatchHub, WatchRequest } from './watch-hub.js';

/** Batches read from the history at a time while catching up. */
const BACKLOG_CHUNK = 256;

/**
 * One SSE or NDJSON watch: the body of its answer. From its start revision it catches up from
 * the store's history, writing as fast as its client reads (it waits for the socket to drain),
 * then takes the hub's flushes. It ends when the client goes, the server shuts down, the
 * history no longer holds what it needs (compacted), or its client leaves too much unread
 * (slow_consumer).
 */
export class StreamWatcher implements AnswerStream, Subscriber {
  readonly target: WatchTarget;
  live = false;
  /** Every change it watches up to this revision has been written. */
  private position: number;
  private readonly view: ChangeView;
  private sink: StreamSink | undefined;
  private attached = false;
  private done = false;
  private outbox = '';
  private lastWriteAt = Date.now();

  constructor(
    private readonly hub: WatchHub,
    request: WatchRequest,
    private readonly form: StreamForm,
  ) {
    this.target = request.target;
    this.position = request.after;
    this.view = request.view;
  }

  start(sink: StreamSink): void {
    if (this.done) return;
    this.sink = sink;
    if (this.hub.closed) {
      this.end();
      return;
    }
    this.hub.attach(this);
    this.attached = true;
    if (this.form === 'sse') this.write(SSE_PREAMBLE);
    this.catchUp();
  }

  /** The client went away (or the answer was never sent): no more writing. */
  stop(): void {
    if (this.done) return;
    this.done = true;
    this.sink = undefined;
    this.hub.detach(this, this.attached);
  }

  /** Ends the stream cleanly (shutdown). */
  end(): void {
    if (this.done) return;
    const sink = this.sink;
    this.stop();
    sink?.end();
  }

  take(batch: ChangeBatch, changes: readonly Change[], whole: boolean): void {
    if (batch.revision <= this.position) return; // already sent while catching up
    this.outbox += whole
      ? this.hub.message(batch, this.form, this.view)
      : changeMessage(this.form, batch.revision, changesJson(changes, this.view));
  }

  flushed(revision: number): void {
    if (this.done) return;
    if (revision > this.position) this.position = revision;
    const text = this.outbox;
    this.outbox = '';
    if (text !== '') this.write(text);
    this.checkBacklog();
  }

  /** A progress event if nothing was written since `idleSince` (ms); everything up to `through` has been offered. */
  progress(idleSince: number, through: number): void {
    if (this.done || !this.live || this.lastWriteAt > idleSince) return;
    if (through > this.position) this.position = through;
    this.write(progressMessage(this.form, this.position));
    this.checkBacklog();
  }

  /** Writes what the history holds after the position, chunk by chunk, pausing while the client catches up; then goes live. */
  private catchUp(): void {
    for (;;) {
      if (this.done) return;
      if (this.position >= this.hub.shownHead) {
        this.goLive();
        return;
      }
      const result = this.hub.history(this.position, BACKLOG_CHUNK);
      if (result instanceof Promise) {
        result.then(
          (held) => {
            if (this.replay(held)) this.catchUp();
          },
          () => this.end(),
        );
        return;
      }
      if (!this.replay(result)) return;
    }
  }

  /** Writes a chunk of history; false when catching up stops here (waiting for a drain, live, or ended). */
  private replay(held: readonly ChangeBatch[] | HistoryCompacted): boolean {
    if (this.done) return false;
    if ('compacted' in held) {
      this.hub.evictions.history_compacted++;
      this.finish(
        compactedMessage(
          this.form,
          `the history no longer holds the changes after revision ${this.position} this watch needs; list again, then watch with after=<the listing's revision>`,
          held.oldestRevision,
        ),
      );
      return false;
    }
    if (held.length === 0) {
      this.goLive();
      return false;
    }
    let text = '';
    for (const batch of held) {
      const changes = this.watched(batch);
      if (changes.length > 0) text += changeMessage(this.form, batch.revision, changesJson(changes, this.view));
      this.position = batch.revision;
    }
    if (text === '' || this.write(text)) return true;
    (this.sink as StreamSink).onDrain(() => this.catchUp());
    return false;
  }

  private goLive(): void {
    if (this.live || this.done) return;
    this.live = true;
    this.hub.wentLive();
    this.write(progressMessage(this.form, this.position));
  }

  /** The changes of `batch` this watcher watches. */
  private watched(batch: ChangeBatch): readonly Change[] {
    const target = this.target;
    const matches = (c: Change) => ('key' in target ? c.key === target.key : inKeyRange(target.range, c.key));
    return batch.changes.every(matches) ? batch.changes : batch.changes.filter(matches);
  }

  private write(text: string): boolean {
    this.lastWriteAt = Date.now();
    return (this.sink as StreamSink).write(text);
  }

  /** Past the buffer bound, a live watcher's client is not keeping up: cut off, with where to resume. */
  private checkBacklog(): void {
    const sink = this.sink;
    if (this.done || sink === undefined || sink.pending <= this.hub.settings.bufferBytes) return;
    this.hub.evictions.slow_consumer++;
    this.finish(
      errorMessage(
        this.form,
        'slow_consumer',
        `the client left more than ${this.hub.settings.bufferBytes} bytes unread (KV_WATCH_BUFFER_BYTES); watch again with after=${this.position}`,
        this.position,
      ),
    );
  }

  /** Writes a last message and ends the stream. */
  private finish(text: string): void {
    const sink = this.sink;
    if (this.done || sink === undefined) return;
    sink.write(text);
    this.end();
  }
}
