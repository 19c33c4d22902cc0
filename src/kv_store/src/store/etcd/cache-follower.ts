/*
 * Keeps a node's KeyspaceCache current with ONE etcd watch over the store's prefix.
 *
 *   load:    range the prefix page by page, every page at the revision R of the first
 *            (a consistent snapshot however much is written meanwhile), into the cache
 *   follow:  watch the prefix from R + 1; every message goes to the cache in order
 *   catch up: once the watch is created the node writes <prefix>m/sync; when that write comes
 *            back on the watch, everything before it has too, and the follower is `live`
 *   resume:  when the stream breaks (the member died, the network), watch again from the last
 *            revision applied + 1 on the next member, and catch up again
 *   reload:  when etcd has compacted the revision the watch needs, load again (the cache tells
 *            its subscribers the difference)
 *   no space: while etcd's storage quota is full (its NOSPACE alarm refuses every put, m/sync's
 *            too), a watch started right after a load goes live without the m/sync barrier: the
 *            cache is as fresh as the load (a linearizable read at its first page's revision R),
 *            and what etcd commits after R reaches it through the watch, as always. A watch that
 *            resumed loads again first.
 *
 * While the follower is not live, the node does not serve reads from the cache: it reads from
 * etcd (or answers 503 when etcd cannot be reached). While it is live, a probe every
 * PROBE_INTERVAL_MS asks the watch's member for a linearizable read: a member cut off from the
 * cluster's majority keeps its watch open but silent, and fails that read, so the watch moves
 * to another member.
 */

import type { Logger } from '../../logger.js';
import { b64, EtcdError, type EtcdRangeResponse, type EtcdWatchMessage, int } from './etcd-wire.js';
import type { EtcdGrpc } from './etcd-grpc.js';
import { EtcdTelemetry } from './etcd-telemetry.js';
import type { KeyspaceCache, PendingWrite } from './keyspace-cache.js';
import { type EtcdLayout, rangeEnd } from './stored-record.js';

/** Keys per page of the initial load. */
const LOAD_PAGE = 1000;
const PROBE_INTERVAL_MS = 2000;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;

export type FollowerState = 'starting' | 'behind' | 'live' | 'closed';

/** The watch was cancelled because etcd no longer holds the revision it asked for. */
class WatchCompacted extends Error {
  constructor(readonly compactRevision: number) {
    super(`etcd compacted the history the watch needed (oldest revision held: ${compactRevision})`);
  }
}

export class CacheFollower {
  private current: FollowerState = 'starting';
  private why = 'loading the keyspace from etcd';
  private loaded = false;
  /** Set when the follower drops its cache to load it again, and why (the reason /readyz gives). */
  private reloading: string | undefined;
  private readonly stop = new AbortController();
  private watchAbort: AbortController | undefined;
  private barrierRevision = Number.POSITIVE_INFINITY;
  private probeTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private liveListeners: (() => void)[] = [];
  /** The pause before the next try to load or watch, after a failed one. */
  private retryDelay = RETRY_MIN_MS;
  /** The watch etcd took last resumes from the cache's revision (no load before it): a restart, once live. */
  private resumed = false;

  constructor(
    private readonly etcd: EtcdGrpc,
    private readonly layout: EtcdLayout,
    private readonly cache: KeyspaceCache,
    private readonly nodeId: string,
    private readonly logger: Logger | undefined,
    /** Where each new start of the watch is reported. */
    private readonly telemetry: EtcdTelemetry = new EtcdTelemetry(),
  ) {}

  get state(): FollowerState {
    return this.current;
  }

  /** Why the follower is not live (or 'live'). */
  get reason(): string {
    return this.current === 'live' ? 'live' : this.why;
  }

  /** Resolves once the follower is live (at once if it is). */
  whenLive(): Promise<void> {
    if (this.current === 'live') return Promise.resolve();
    return new Promise((resolve) => this.liveListeners.push(resolve));
  }

  start(): void {
    this.running ??= this.run();
  }

  async close(): Promise<void> {
    this.current = 'closed';
    this.stop.abort();
    this.watchAbort?.abort();
    clearInterval(this.probeTimer);
    await this.running;
  }

  private async run(): Promise<void> {
    while (!this.stop.signal.aborted) {
      try {
        const fresh = !this.loaded;
        if (fresh) {
          await this.load();
          this.retryDelay = RETRY_MIN_MS;
        }
        await this.follow(fresh);
      } catch (err) {
        if (this.stop.signal.aborted) break;
        if (err instanceof WatchCompacted) this.loaded = false;
        this.fallBehind(err instanceof Error ? err.message : String(err));
      }
      // Tries back off while etcd takes neither a load nor a watch; one it takes starts them afresh.
      await sleep(this.retryDelay, this.stop.signal);
      this.retryDelay = Math.min(RETRY_MAX_MS, this.retryDelay * 2);
    }
  }

  private fallBehind(why: string): void {
    if (this.current === 'closed') return;
    if (this.current === 'live') this.logger?.warn({ why }, 'etcd watch lost; reads go to etcd until it catches up');
    this.current = 'behind';
    this.why =
      this.reloading ??
      (this.loaded ? `the node's watch on etcd is reconnecting (${why})` : `the node cannot load the keyspace from etcd (${why})`);
    clearInterval(this.probeTimer);
  }

  /** Loads the whole prefix at one revision into the cache. */
  private async load(): Promise<void> {
    const key = b64(this.layout.prefix);
    const end = rangeEnd(this.layout.prefix).toString('base64');
    const kvs = [];
    let revision: number | undefined;
    // The writes on their way when etcd answered the first page: each may be in it, or gone from it.
    let exposed: PendingWrite[] | undefined;
    let from = key;
    for (;;) {
      const page = await this.etcd.call<EtcdRangeResponse>('/v3/kv/range', {
        key: from,
        range_end: end,
        limit: String(LOAD_PAGE),
        ...(revision === undefined ? {} : { revision: String(revision) }),
      });
      exposed ??= this.cache.unsettled();
      revision ??= int(page.header?.revision);
      const got = page.kvs ?? [];
      kvs.push(...got);
      const last = got.at(-1);
      if (page.more !== true || last === undefined) break;
      // The next page starts just after the last key: its bytes plus a zero byte.
      from = Buffer.concat([Buffer.from(last.key, 'base64'), Buffer.from([0])]).toString('base64');
    }
    const reload = this.cache.revision > 0;
    this.cache.load(kvs, revision ?? 0, exposed);
    if (reload) this.telemetry.watch('reload');
    this.loaded = true;
    this.reloading = undefined;
  }

  /**
   * Watches from the cache's revision + 1 until the stream ends (it only ends by failing);
   * `fresh` when the cache was loaded just before (see the header's no space).
   */
  private async follow(fresh: boolean): Promise<void> {
    const abort = new AbortController();
    this.watchAbort = abort;
    const onStop = () => abort.abort();
    this.stop.signal.addEventListener('abort', onStop);
    const member = this.etcd.endpoint;
    let compacted: WatchCompacted | undefined;
    let canceled: string | undefined;
    const request = {
      create_request: {
        key: b64(this.layout.prefix),
        range_end: rangeEnd(this.layout.prefix).toString('base64'),
        start_revision: String(this.cache.revision + 1),
        progress_notify: true,
      },
    };
    try {
      await this.etcd.watch(request, abort.signal, (message: EtcdWatchMessage) => {
        if (message.canceled === true) {
          const at = int(message.compact_revision);
          compacted = at > 0 ? new WatchCompacted(at) : undefined;
          canceled = message.cancel_reason ?? 'no reason given';
          abort.abort();
          return;
        }
        if (message.created === true) {
          this.retryDelay = RETRY_MIN_MS;
          // Counted once it goes live: etcd creates a watch from a compacted revision, then cancels it.
          this.resumed = !fresh;
          this.catchUp(member, abort, fresh);
          return;
        }
        if (message.events !== undefined && message.events.length > 0) this.cache.apply(message.events);
        else if (message.header?.revision !== undefined) this.cache.advance(int(message.header.revision));
        if (this.current !== 'live' && this.cache.revision >= this.barrierRevision) this.goLive(member, abort);
      });
    } finally {
      this.stop.signal.removeEventListener('abort', onStop);
      this.barrierRevision = Number.POSITIVE_INFINITY;
    }
    if (compacted !== undefined) throw compacted;
    if (this.stop.signal.aborted) return;
    if (canceled !== undefined) throw new EtcdError('ambiguous', `etcd canceled the watch on ${member}: ${canceled}`);
    throw new EtcdError('ambiguous', `the watch on ${member} ended`);
  }

  /** Writes m/sync until a write succeeds; its revision, once the watch brings it, means caught up. */
  private catchUp(member: string, watch: AbortController, fresh: boolean): void {
    const attempt = async (): Promise<void> => {
      while (!watch.signal.aborted) {
        try {
          const answer = await this.etcd.call<{ header?: { revision?: string } }>('/v3/kv/put', {
            key: b64(this.layout.syncKey),
            value: b64(this.nodeId),
          });
          this.barrierRevision = int(answer.header?.revision);
          if (this.cache.revision >= this.barrierRevision) this.goLive(member, watch);
          return;
        } catch (err) {
          if (watch.signal.aborted) return;
          this.why = `the node's watch on etcd is catching up (${(err as Error).message})`;
          if (err instanceof EtcdError && err.failure === 'refused' && /database space exceeded/.test(err.message)) {
            // etcd takes no put (see the header): live on a fresh load, else load again.
            this.logger?.warn({ member }, "etcd's storage quota is full: the node cannot write m/sync, and follows etcd from a fresh load");
            if (fresh) {
              this.goLive(member, watch);
            } else {
              this.loaded = false;
              this.reloading = "etcd's storage quota is full, so the node cannot write m/sync: it loads the keyspace again";
              watch.abort();
            }
            return;
          }
          await sleep(500, watch.signal);
        }
      }
    };
    void attempt();
  }

  private goLive(member: string, watch: AbortController): void {
    if (watch.signal.aborted || this.current === 'closed') return;
    if (this.current !== 'live')
      this.logger?.info({ member, revision: this.cache.revision }, 'etcd watch live; serving reads from the cache');
    this.current = 'live';
    if (this.resumed) this.telemetry.watch('restart');
    this.resumed = false;
    const listeners = this.liveListeners;
    this.liveListeners = [];
    for (const listener of listeners) listener();
    clearInterval(this.probeTimer);
    let failures = 0;
    this.probeTimer = setInterval(() => {
      this.probe(member).then(
        () => {
          failures = 0;
        },
        (err: unknown) => {
          failures++;
          if (failures >= 2 && !watch.signal.aborted) {
            this.fallBehind(`${member} does not answer: ${(err as Error).message}`);
            watch.abort();
          }
        },
      );
    }, PROBE_INTERVAL_MS);
    this.probeTimer.unref();
  }

  /** A linearizable read on the watch's member: fails when it is down or cut off from the majority. */
  private async probe(member: string): Promise<void> {
    await this.etcd.callOn(member, '/v3/kv/range', { key: b64(this.layout.idKey), count_only: true });
  }
}

/** Waits `ms`, or less if `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}
