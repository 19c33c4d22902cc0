import { Counter, collectDefaultMetrics, Registry } from 'prom-client';
import { RequestMetrics } from './request-metrics.js';

/*
 * kv_store's metrics, in Prometheus' text format at GET /metrics (prom-client writes it).
 *
 * `registry` is where every metric is registered. A feature adds its own where it is built, with
 * prom-client's classes, e.g. in a route module (which gets `metrics` in its ApiContext):
 *
 *     const hits = new Counter({ name: 'kv_cache_hits_total', help: '…', registers: [metrics.registry] });
 *
 * A metric read from state (a gauge of watchers, the last snapshot's time) is best a `collect()`
 * that reads it at scrape time; a counter bumped on every request should count plain numbers and
 * hand prom-client the totals at scrape time, as request-metrics.ts does, since prom-client's
 * own increments cost about a microsecond each.
 *
 * The process and runtime metrics (process_*, nodejs_*) are the process's, so they live in one
 * registry per process, made when the first Metrics that is enabled is; /metrics writes both.
 */

/** The process's own registry of process_* and nodejs_* metrics, made once. */
let runtime: Registry | undefined;
function runtimeRegistry(): Registry {
  if (runtime === undefined) {
    runtime = new Registry();
    collectDefaultMetrics({ register: runtime });
  }
  return runtime;
}

/** What became of a POST /txn. */
export type TxnResult = 'succeeded' | 'failed' | 'rejected';

export class Metrics {
  /** Every metric of this kv_store: features register theirs here. */
  readonly registry = new Registry();
  /** The HTTP request counter and duration histogram, fed by the transport's answer observer. */
  readonly requests: RequestMetrics;
  /** The Content-Type of `render()`'s text. */
  readonly contentType: string = Registry.PROMETHEUS_CONTENT_TYPE;
  private readonly rejected: Counter<'reason'>;
  /** Transactions by outcome, handed to prom-client when /metrics is scraped. */
  private readonly txns: Record<TxnResult, number> = { succeeded: 0, failed: 0, rejected: 0 };

  /** `enabled` false (KV_METRICS=off): no /metrics, no runtime metrics, nothing counted per request. */
  constructor(readonly enabled: boolean) {
    this.requests = new RequestMetrics(this.registry);
    this.rejected = new Counter({
      name: 'kv_rejected_writes_total',
      help: "Writes refused (create, overwrite, delete, transaction), by the contract's error code: limits, conflicts, bad input, access.",
      labelNames: ['reason'] as const,
      registers: [this.registry],
    });
    const txns = this.txns;
    new Counter({
      name: 'kv_txn_total',
      help: 'POST /txn requests by result: succeeded (applied), failed (a check or op failed: 409 txn_failed, nothing applied), rejected (refused before it ran: bad body, access, too many ops, limits).',
      labelNames: ['result'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [result, n] of Object.entries(txns)) this.inc({ result }, n);
      },
    });
    if (enabled) runtimeRegistry();
  }

  /** Counts a transaction's result. */
  txn(result: TxnResult): void {
    this.txns[result]++;
  }

  /** Counts a refused write; `reason` is the contract's error code. */
  rejectedWrite(reason: string): void {
    this.rejected.inc({ reason });
  }

  /** Every metric in Prometheus' text format. */
  async render(): Promise<string> {
    const own = await this.registry.metrics();
    return this.enabled ? `${own}\n${await runtimeRegistry().metrics()}` : own;
  }
}
