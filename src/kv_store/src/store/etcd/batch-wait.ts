/*
 * How long the etcd engine's next batch waits for the clients the last one answered: shared by
 * the write batcher (write-batcher.ts) and the read batcher (read-batcher.ts), both of which send
 * one batch at a time.
 *
 * Why: with one batch on its way, N clients that each send again as soon as they are answered
 * split into two batches of about N/2 that take turns, since a batch leaves the moment the one
 * before comes back, just before the clients it answered send again. What a batch costs etcd and
 * the node is mostly per batch, so when a batch comes back the next one waits until as many
 * requests are queued as were queued then plus those the batch answered, or a batch's worth, or
 * until `waitMs` has passed since it came back, whichever is first (KV_ETCD_BATCH_WAIT_MS; 0
 * turns the wait off). A request that finds no batch on its way and none back within `waitMs`
 * still goes at once. Measured in docs/etcd-backend.md ("Waiting for the clients just answered").
 */

/** How long the next batch waits for the clients a batch just answered, by default (KV_ETCD_BATCH_WAIT_MS). */
export const DEFAULT_BATCH_WAIT_MS = 5;

export class BatchWait {
  /** After a batch comes back: the next one waits until this many requests are queued, or until `until`. */
  private expected = 0;
  private until = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** The longest wait, in ms; 0: never wait. */
    private readonly waitMs: number,
    /** The time (ms since the epoch). */
    private readonly now: () => number,
    /** Called when a wait ends by its time: the batcher sends what is queued then. */
    private readonly ended: () => void,
  ) {}

  /**
   * A batch that answers `answered` requests came back from etcd, before any of them is
   * answered, with `queued` requests waiting: the next batch waits for those clients.
   */
  cameBack(queued: number, answered: number): void {
    this.expected = queued + answered;
    this.until = this.now() + this.waitMs;
  }

  /**
   * True while the next batch should wait: fewer than the expected requests are `queued`, the
   * batch is not `full`, and `waitMs` has not passed since the last one came back; a timer then
   * calls `ended` when it does.
   */
  holds(queued: number, full: boolean): boolean {
    const left = this.until - this.now();
    if (full || queued >= this.expected || left <= 0) {
      this.expected = 0;
      this.clear();
      return false;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.expected = 0;
      this.ended();
    }, left);
    return true;
  }

  /** Stops a wait's timer (the batcher is closing). */
  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
