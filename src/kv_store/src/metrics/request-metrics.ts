import { Counter, Histogram, type Registry } from 'prom-client';

/*
 * kv_http_requests_total{method, route, code} and kv_http_request_duration_seconds{method, route}.
 *
 * Counting happens on every request, so it is plain arithmetic on numbers kept here: a series is
 * found by two Map lookups (route template, then method) and counted into typed arrays, with
 * nothing allocated after a series' first request. prom-client's own children cost about 1 µs
 * per increment and 1.5 µs per observation (they hash the label values each time), which is
 * several percent of a request that takes 10-20 µs; so prom-client is handed the totals only
 * when /metrics is scraped, and writes the format as for any other metric.
 *
 * Labels stay few: `route` is the template of the route that matched (`/v1/{key}`, never a
 * key; 'other' for paths no route serves), `method` one of the HTTP methods or 'other', `code`
 * the status.
 */

/** Upper bounds in seconds: kv_store answers most requests in well under a millisecond. */
export const DURATION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT']);
/** Statuses are counted in an array indexed by status; anything outside 100-599 lands in slot 0. */
const STATUS_SLOTS = 600;

/** The counts of one route and method. */
class Series {
  /** Observations per bucket (not cumulative); the last slot is above every bound (+Inf only). */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  sum = 0;
  count = 0;
  /** Answers by status. */
  readonly statuses = new Float64Array(STATUS_SLOTS);
  /** The label values, made once, for prom-client at scrape time. */
  readonly labels: { readonly method: string; readonly route: string };

  constructor(method: string, route: string) {
    this.labels = { method, route };
  }
}

type DurationLabel = 'method' | 'route' | 'le';
type DurationSnapshot = Awaited<ReturnType<Histogram<DurationLabel>['get']>>;

/** The HTTP request counter and duration histogram, counted here and written by prom-client. */
export class RequestMetrics {
  /** Series by route template, then by method. */
  private readonly routes = new Map<string, Map<string, Series>>();

  constructor(registry: Registry) {
    const series = (): Iterable<Series> => this.allSeries();
    new Counter({
      name: 'kv_http_requests_total',
      help: 'HTTP requests answered, by method, route template and status code.',
      labelNames: ['method', 'route', 'code'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const s of series()) {
          for (let status = 0; status < STATUS_SLOTS; status++) {
            const n = s.statuses[status] as number;
            if (n > 0) this.inc({ ...s.labels, code: status === 0 ? 'other' : String(status) }, n);
          }
        }
      },
    });
    registry.registerMetric(new CountedHistogram(series));
  }

  /** Counts one answer: `seconds` from the request's head being read to its answer being written. */
  observe(method: string, route: string, status: number, seconds: number): void {
    let byMethod = this.routes.get(route);
    if (byMethod === undefined) {
      byMethod = new Map();
      this.routes.set(route, byMethod);
    }
    const label = METHODS.has(method) ? method : 'other';
    let s = byMethod.get(label);
    if (s === undefined) {
      s = new Series(label, route);
      byMethod.set(label, s);
    }
    s.count++;
    s.sum += seconds;
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[i] as number)) i++;
    s.buckets[i] = (s.buckets[i] as number) + 1;
    const slot = status >= 100 && status < STATUS_SLOTS ? status : 0;
    s.statuses[slot] = (s.statuses[slot] as number) + 1;
  }

  private *allSeries(): Iterable<Series> {
    for (const byMethod of this.routes.values()) yield* byMethod.values();
  }
}

/**
 * kv_http_request_duration_seconds: a prom-client Histogram whose buckets are read from the
 * counts above at scrape time rather than observed one by one.
 */
class CountedHistogram extends Histogram<DurationLabel> {
  static readonly NAME = 'kv_http_request_duration_seconds';
  static readonly HELP = 'Time from reading a request head to writing its answer, by method and route template.';

  constructor(private readonly series: () => Iterable<Series>) {
    super({
      name: CountedHistogram.NAME,
      help: CountedHistogram.HELP,
      labelNames: ['method', 'route'],
      buckets: DURATION_BUCKETS,
      registers: [],
    });
  }

  override async get(): Promise<DurationSnapshot> {
    const name = CountedHistogram.NAME;
    const values: Array<{ value: number; labels: Record<string, string | number>; metricName: string }> = [];
    for (const s of this.series()) {
      let cumulative = 0;
      for (let i = 0; i < DURATION_BUCKETS.length; i++) {
        cumulative += s.buckets[i] as number;
        values.push({ value: cumulative, labels: { ...s.labels, le: DURATION_BUCKETS[i] as number }, metricName: `${name}_bucket` });
      }
      values.push({ value: s.count, labels: { ...s.labels, le: '+Inf' }, metricName: `${name}_bucket` });
      values.push({ value: s.sum, labels: s.labels, metricName: `${name}_sum` });
      values.push({ value: s.count, labels: s.labels, metricName: `${name}_count` });
    }
    // prom-client's typings declare `type` as a numeric enum its code does not use: it reads 'histogram'.
    return { name, help: CountedHistogram.HELP, type: 'histogram', aggregator: 'sum', values } as unknown as DurationSnapshot;
  }

  /** What the registry reads when it writes the text format (Histogram's own reads its observations). */
  getForPromString(): Promise<DurationSnapshot> {
    return this.get();
  }
}
