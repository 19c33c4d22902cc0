import { type Change, type ChangeBatch, type HistoryCompacted, inKeyRange, type MaybePromise, whenReady } from '../../store/store.js';
import type { WatchTarget } from './range-index.js';
import { type ChangeView, changeJson } from './watch-format.js';
import { historyCompacted, type Subscriber, type WatchHub, type WatchRequest } from './watch-hub.js';

/** Most changes in one long-poll answer (a revision's changes are never split). */
const MAX_CHANGES = 1000;
/** Batches read from the history at a time. */
const CHUNK = 256;

/** What a scan of the history found. */
interface Found {
  readonly changes: string[];
  /** Every change watched up to this revision is in `changes`. */
  readonly through: number;
  readonly more: boolean;
}

/**
 * A long-poll watch (`wait=<seconds>`): the changes after `after` that the history holds, at
 * once; or, when there are none, the first ones to come within the wait, or none when it ends.
 * The answer is `{"revision", "changes", "more"}`: ask again with after=<revision>.
 */
export class LongPoll implements Subscriber {
  readonly target: WatchTarget;
  readonly live = true;
  private readonly changes: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private done = false;

  private constructor(
    private readonly hub: WatchHub,
    request: WatchRequest,
    private position: number,
    private readonly view: ChangeView,
    private readonly resolve: (body: string) => void,
  ) {
    this.target = request.target;
  }

  /** The answer's body, now or once a change comes or the wait ends; 410 history_compacted if the history no longer holds `after`. */
  static answer(hub: WatchHub, request: WatchRequest, waitMs: number): MaybePromise<string> {
    return whenReady(scan(hub, request, request.after, []), (found) => {
      if ('compacted' in found) throw historyCompacted(request.after, found.oldestRevision);
      if (found.changes.length > 0 || waitMs === 0 || hub.closed) return body(found.through, found.changes, found.more);
      hub.reserve();
      return new Promise<string>((resolve) => {
        const poll = new LongPoll(hub, request, found.through, request.view, resolve);
        hub.attach(poll);
        hub.wentLive();
        poll.timer = setTimeout(() => poll.timeUp(), waitMs);
      });
    });
  }

  take(batch: ChangeBatch, changes: readonly Change[]): void {
    if (this.done || batch.revision <= this.position) return;
    for (const change of changes) this.changes.push(changeJson(change, this.view));
  }

  flushed(revision: number): void {
    if (this.done || this.changes.length === 0) return;
    this.finish(Math.max(revision, this.position));
  }

  /** The wait is over (or the server is closing): answer what there is. */
  timeUp(): void {
    if (!this.done) this.finish(Math.max(this.position, this.hub.flushedThrough));
  }

  private finish(through: number): void {
    this.done = true;
    clearTimeout(this.timer);
    this.hub.detach(this, true);
    this.resolve(body(through, this.changes, false));
  }
}

function body(revision: number, changes: readonly string[], more: boolean): string {
  return `{"revision":${revision},"changes":[${changes.join(',')}],"more":${more}}`;
}

/** The watched changes the history holds after `after`, up to MAX_CHANGES (whole revisions). */
function scan(hub: WatchHub, request: WatchRequest, after: number, changes: string[]): MaybePromise<Found | HistoryCompacted> {
  return whenReady(hub.history(after, CHUNK), (held): MaybePromise<Found | HistoryCompacted> => {
    if ('compacted' in held) return held;
    let through = after;
    for (const batch of held) {
      const watched = batch.changes.filter((c) => watches(request.target, c));
      if (watched.length > 0 && changes.length > 0 && changes.length + watched.length > MAX_CHANGES) {
        return { changes, through, more: true };
      }
      for (const change of watched) changes.push(changeJson(change, request.view));
      through = batch.revision;
    }
    if (held.length === 0) return { changes, through: Math.max(through, hub.shownHead), more: false };
    if (held.length < CHUNK) return { changes, through, more: false };
    return scan(hub, request, through, changes);
  });
}

function watches(target: WatchTarget, change: Change): boolean {
  return 'key' in target ? change.key === target.key : inKeyRange(target.range, change.key);
}
