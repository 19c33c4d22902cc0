import { getMetricsFromIterator, type PromData, type PromHistogramData, type PromMetrics } from 'prom2javascript';
import { connect } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { DURATION_BUCKETS } from '../src/metrics/request-metrics.js';
import { expectError, FakeClock, JSON_HEADERS, listen, testApp } from './helpers.js';
import { jsonRequest, RawConnection, type RawRequest, rawRequest } from './reliability/support/raw-http.js';

/**
 * GET /metrics over real sockets (the request metrics are counted by the transport once an
 * answer is written), read with a Prometheus text parser from npm (prom2javascript).
 */

/** A kv_store on a free port of 127.0.0.1, stopped when the test ends. */
async function served(env: Record<string, string> = {}, clock = new FakeClock()) {
  const app = buildApp({ config: loadConfig({ KV_LOG_LEVEL: 'silent', ...env }), clock });
  const url = await listen(app);
  const send = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? headers : { ...JSON_HEADERS, ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    await res.arrayBuffer();
    return res.status;
  };
  return { app, url, clock, send };
}

async function scrape(url: string, headers: Record<string, string> = {}): Promise<{ text: string; metrics: PromMetrics }> {
  const res = await fetch(`${url}/metrics`, { headers });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return { text, metrics: await parse(text) };
}

/**
 * The kv_* families, parsed. The runtime's (process_*, nodejs_*) are left out: prom-client
 * writes NaN (as `Nan`, which Prometheus reads) for a gauge with no sample yet, such as the
 * event loop lag right after start, and prom2javascript knows no NaN.
 */
function parse(text: string): Promise<PromMetrics> {
  const ours = text.split('\n').filter((line) => !/^(# (HELP|TYPE) )?(process|nodejs)_/.test(line));
  return getMetricsFromIterator(ours[Symbol.iterator]());
}

/** The samples of a counter or gauge as `labels -> value`, labels written `k=v,k=v` in name order. */
function samples(metrics: PromMetrics, name: string): Record<string, number> {
  const metric = metrics[name];
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const out: Record<string, number> = {};
  for (const d of metric.data as PromData[]) out[labelKey(d.labels)] = d.value;
  return out;
}

function histograms(metrics: PromMetrics, name: string): Record<string, PromHistogramData> {
  const metric = metrics[name];
  if (metric === undefined || metric.type !== 'histogram') throw new Error(`no histogram ${name}`);
  const out: Record<string, PromHistogramData> = {};
  for (const d of metric.data as PromHistogramData[]) out[labelKey(d.labels)] = d;
  return out;
}

/** Resolves when `check` holds (a hang guard of 15 s). */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function labelKey(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

describe('GET /metrics', () => {
  it('counts a known sequence of requests exactly, by method, route template and status', async () => {
    const { url, send } = await served();
    const sent = [
      await send('POST', '/v1/', { key: 'a', value: 1 }),
      await send('POST', '/v1/', { key: 'a', value: 2 }),
      await send('GET', '/v1/a'),
      await send('GET', '/v1/a'),
      await send('GET', '/v1/missing'),
      await send('HEAD', '/v1/a'),
      await send('PUT', '/v1/a', { value: 3 }),
      await send('PUT', '/v1/a', { value: 4 }, { 'if-match': '"1"' }),
      await send('DELETE', '/v1/a'),
      await send('PATCH', '/v1/a'),
      await send('GET', '/healthz'),
      await send('GET', '/nowhere/a'),
      await send('GET', '/elsewhere'),
    ];
    expect(sent).toEqual([201, 409, 200, 200, 404, 200, 200, 412, 204, 405, 200, 404, 404]);
    const { metrics } = await scrape(url);

    // The scrape itself is counted once its answer is written: not in its own text.
    expect(samples(metrics, 'kv_http_requests_total')).toEqual({
      'code=201,method=POST,route=/v1/': 1,
      'code=409,method=POST,route=/v1/': 1,
      'code=200,method=GET,route=/v1/{key}': 2,
      'code=404,method=GET,route=/v1/{key}': 1,
      'code=200,method=HEAD,route=/v1/{key}': 1,
      'code=200,method=PUT,route=/v1/{key}': 1,
      'code=412,method=PUT,route=/v1/{key}': 1,
      'code=204,method=DELETE,route=/v1/{key}': 1,
      'code=405,method=PATCH,route=/v1/{key}': 1,
      'code=200,method=GET,route=/healthz': 1,
      'code=404,method=GET,route=other': 2,
    });

    const durations = histograms(metrics, 'kv_http_request_duration_seconds');
    const counts = Object.fromEntries(Object.entries(durations).map(([k, h]) => [k, h.count]));
    expect(counts).toEqual({
      'method=POST,route=/v1/': 2,
      'method=GET,route=/v1/{key}': 3,
      'method=HEAD,route=/v1/{key}': 1,
      'method=PUT,route=/v1/{key}': 2,
      'method=DELETE,route=/v1/{key}': 1,
      'method=PATCH,route=/v1/{key}': 1,
      'method=GET,route=/healthz': 1,
      'method=GET,route=other': 2,
    });
    for (const [series, h] of Object.entries(durations)) {
      // Every bound is there, counts are cumulative and end at the total; the sum is a duration.
      expect(Object.keys(h.buckets).sort(), series).toEqual([...DURATION_BUCKETS.map(String), '+Inf'].sort());
      const cumulative = [...DURATION_BUCKETS.map(String), '+Inf'].map((le) => h.buckets[le] as number);
      for (let i = 1; i < cumulative.length; i++) expect(cumulative[i], series).toBeGreaterThanOrEqual(cumulative[i - 1] as number);
      expect(h.buckets['+Inf'], series).toBe(h.count);
      expect(h.sum, series).toBeGreaterThan(0);
    }

    // The next scrape sees the first one.
    const again = await scrape(url);
    expect(samples(again.metrics, 'kv_http_requests_total')['code=200,method=GET,route=/metrics']).toBe(1);
  });

  it('counts refused writes by their error code, including those refused for access or size', async () => {
    const { url, send } = await served({
      KV_MAX_KEYS: '1',
      KV_MAX_VALUE_BYTES: '16',
      KV_AUTH_TOKEN: 'write-token-1',
      KV_READ_TOKEN: 'read-token-1',
    });
    const w = { authorization: 'Bearer write-token-1' };
    const r = { authorization: 'Bearer read-token-1' };
    const sent = [
      await send('POST', '/v1/', { key: 'a', value: 1 }, w),
      await send('POST', '/v1/', { key: 'b', value: 1 }, w),
      await send('POST', '/v1/', { key: 'a', value: 1 }, w),
      await send('POST', '/v1/', { key: 'c', value: 'x'.repeat(40) }, w),
      await send('POST', '/v1/', '{', w),
      await send('PUT', '/v1/a', { value: 2 }, { ...w, 'if-match': '"7"' }),
      await send('PUT', '/v1/a', { value: 2 }, r),
      await send('DELETE', '/v1/a'),
      await send('DELETE', '/v1/zz', undefined, w),
      await send('PUT', '/v1/a', { value: 'x'.repeat(10_000) }, w),
      await send('GET', '/v1/zz', undefined, r),
    ];
    expect(sent).toEqual([201, 507, 409, 413, 400, 412, 403, 401, 404, 413, 404]);
    const { metrics } = await scrape(url, r);
    // The GET of a missing key is not a write: it is not counted here.
    expect(samples(metrics, 'kv_rejected_writes_total')).toEqual({
      'reason=insufficient_storage': 1,
      'reason=key_exists': 1,
      'reason=value_too_large': 1,
      'reason=invalid_json': 1,
      'reason=version_mismatch': 1,
      'reason=forbidden': 1,
      'reason=unauthorized': 1,
      'reason=key_not_found': 1,
      'reason=payload_too_large': 1,
    });
  });

  it('counts transactions by result, and a refused or failed write transaction as a rejected write by its code', async () => {
    const { url, send } = await served({ KV_MAX_TXN_OPS: '4', KV_AUTH_TOKEN: 'write-token-1', KV_READ_TOKEN: 'read-token-1' });
    const w = { authorization: 'Bearer write-token-1' };
    const r = { authorization: 'Bearer read-token-1' };
    const set = (key: string) => ({ op: 'set', key, value: 1 });
    const sent = [
      await send('POST', '/txn', { ops: [set('a'), set('b')] }, w),
      await send('POST', '/txn', { checks: [{ key: 'a', version: 1 }], ops: [{ op: 'incr', key: 'a' }] }, w),
      await send('POST', '/txn', { checks: [{ key: 'a', version: 1 }], ops: [set('b')] }, w),
      await send('POST', '/txn', { ops: [{ op: 'replace', key: 'missing', value: 1 }] }, w),
      await send('POST', '/txn', { ops: [set('a'), set('b'), set('c'), set('d'), set('e')] }, w),
      await send('POST', '/txn', { ops: [set('a')] }, r),
      await send('POST', '/txn', '{"ops":', w),
      await send('POST', '/txn', { checks: [{ key: 'a', version: 2 }], ops: [{ op: 'get', key: 'a' }] }, r),
      await send('POST', '/txn', { checks: [{ key: 'a', version: 9 }], ops: [{ op: 'get', key: 'a' }] }, r),
    ];
    expect(sent).toEqual([200, 200, 409, 409, 413, 403, 400, 200, 409]);
    const { metrics } = await scrape(url, r);
    expect(samples(metrics, 'kv_txn_total')).toEqual({ 'result=succeeded': 3, 'result=failed': 3, 'result=rejected': 3 });
    // The read-only transaction whose check failed wrote nothing, so it is no rejected write.
    expect(samples(metrics, 'kv_rejected_writes_total')).toEqual({
      'reason=txn_failed': 2,
      'reason=too_many_ops': 1,
      'reason=forbidden': 1,
      'reason=invalid_json': 1,
    });
  });

  it('reports the watchers now and the streams cut off, by reason (slow_consumer)', async () => {
    const { app, url, send } = await served({ KV_WATCH_BUFFER_BYTES: '65536', KV_KEEP_ALIVE_TIMEOUT_MS: '120000' });
    const before = await scrape(url);
    expect(samples(before.metrics, 'kv_watchers')).toEqual({ '': 0 });
    expect(samples(before.metrics, 'kv_watch_evictions_total')).toEqual({ 'reason=slow_consumer': 0, 'reason=history_compacted': 0 });
    // One client that reads its stream, one that stops reading.
    const reader = new AbortController();
    onTestFinished(() => reader.abort());
    const reading = await fetch(`${url}/v1/?watch=true`, { headers: { accept: 'application/x-ndjson' }, signal: reader.signal });
    expect(reading.status).toBe(200);
    void reading.body?.pipeTo(new WritableStream()).catch(() => undefined);
    const stalled = connect(Number(new URL(url).port), '127.0.0.1');
    onTestFinished(() => {
      stalled.destroy();
    });
    let received = '';
    stalled.on('data', (d: Buffer) => {
      received += d.toString('latin1');
    });
    stalled.write('GET /v1/?watch=true HTTP/1.1\r\nHost: x\r\nAccept: application/x-ndjson\r\n\r\n');
    await until(() => received.includes('"type":"progress"'), 'the watch to start');
    stalled.pause(); // this client stops reading
    expect(samples((await scrape(url)).metrics, 'kv_watchers')).toEqual({ '': 2 });
    const value = 'v'.repeat(64 * 1024);
    for (let i = 0; i < 300 && app.watches.evictions.slow_consumer === 0; i++) {
      expect(await send('POST', '/v1/', { key: `k${i}`, value })).toBe(201);
    }
    await until(() => app.watches.watchers === 1, 'the stalled watcher to be cut off');
    const after = await scrape(url);
    expect(samples(after.metrics, 'kv_watchers')).toEqual({ '': 1 });
    expect(samples(after.metrics, 'kv_watch_evictions_total')).toEqual({ 'reason=slow_consumer': 1, 'reason=history_compacted': 0 });
  });

  it("reports the store's keys, bytes, limits, revision and expiries, read from its stats when scraped", async () => {
    const { app, url, clock, send } = await served({ KV_MAX_MEMORY_BYTES: '1048576' });
    await send('POST', '/v1/', { key: 'a', value: 'one' });
    await send('POST', '/v1/', { key: 'b', value: [1, 2, 3] });
    await send('POST', '/v1/', { key: 'short-lived', value: true, ttl: 1 });
    clock.advance(1001);
    expect(await send('GET', '/v1/short-lived')).toBe(404);
    const stats = app.store.stats();
    const { metrics } = await scrape(url);
    const one = (name: string) => samples(metrics, name)[''];
    expect({
      keys: one('kv_keys'),
      bytes: one('kv_store_bytes'),
      limit: one('kv_store_limit_bytes'),
      keyLimit: one('kv_store_limit_keys'),
      revision: one('kv_revision'),
      expired: one('kv_expired_keys_total'),
    }).toEqual({ keys: 2, bytes: stats.bytes, limit: 1_048_576, keyLimit: Number.POSITIVE_INFINITY, revision: 4, expired: 1 });
    expect(stats.bytes).toBeGreaterThan(0);
    for (const name of ['kv_keys', 'kv_store_bytes', 'kv_store_limit_bytes', 'kv_store_limit_keys', 'kv_revision']) {
      expect(metrics[name]?.type, name).toBe('gauge');
    }
    expect(metrics.kv_expired_keys_total?.type).toBe('counter');
  });

  it('says +Inf for the limits when there are none', async () => {
    const { url } = await served();
    const { text } = await scrape(url);
    expect(text).toContain('\nkv_store_limit_bytes +Inf\n');
    expect(text).toContain('\nkv_store_limit_keys +Inf\n');
  });

  it('includes the process and Node.js runtime metrics (process_*, nodejs_*)', async () => {
    const { url } = await served();
    const { text } = await scrape(url);
    for (const [name, type] of [
      ['process_cpu_seconds_total', 'counter'],
      ['process_resident_memory_bytes', 'gauge'],
      ['nodejs_heap_size_used_bytes', 'gauge'],
      ['nodejs_eventloop_lag_seconds', 'gauge'],
      ['nodejs_gc_duration_seconds', 'histogram'],
    ]) {
      expect(text, name).toContain(`\n# TYPE ${name} ${type}\n`);
    }
  });

  it('keeps the number of series the same however many keys are used: routes are templates, never keys', async () => {
    const { url } = await served();
    const seriesOf = (metrics: PromMetrics): string[] =>
      Object.entries(metrics)
        .filter(([name]) => name.startsWith('kv_'))
        .flatMap(([name, m]) => (m.data as Array<{ labels: Record<string, string> }>).map((d) => `${name}{${labelKey(d.labels)}}`))
        .sort();
    // Pipelined on one keep-alive connection, 500 requests a write: quick however busy the machine.
    const conn = await RawConnection.open(Number(new URL(url).port));
    onTestFinished(() => conn.destroy());
    const burst = async (from: number, to: number): Promise<void> => {
      for (let start = from; start < to; start += 250) {
        const requests: RawRequest[] = [];
        for (let i = start; i < Math.min(to, start + 250); i++) {
          requests.push(jsonRequest('POST', '/v1/', JSON.stringify({ key: `card/${i}`, value: i })), rawRequest('GET', `/v1/card/${i}`));
        }
        const { responses } = await conn.exchange(requests, 30_000);
        expect(responses.map((r) => r.status)).toEqual(requests.map((r) => (r.method === 'POST' ? 201 : 200)));
      }
    };
    await burst(0, 10);
    await scrape(url); // so that /metrics has its own series before they are compared
    const before = await scrape(url);
    await burst(10, 10_010);
    const after = await scrape(url);

    expect(seriesOf(after.metrics)).toEqual(seriesOf(before.metrics));
    expect(samples(after.metrics, 'kv_http_requests_total')['code=201,method=POST,route=/v1/']).toBe(10_010);
    expect(samples(after.metrics, 'kv_keys')['']).toBe(10_010);
    expect(after.text).not.toContain('card/');
  }, 120_000);

  it('names a route whose rest is a path by its template too (/ui/{path}), never by the path', async () => {
    const { url, send } = await served({ KV_UI_DIR: '/nonexistent-kv-ui' });
    const statuses = [await send('GET', '/ui/assets/one.js'), await send('GET', '/ui/two.css')];
    const { metrics, text } = await scrape(url);
    const ui = Object.keys(samples(metrics, 'kv_http_requests_total')).filter((k) => k.includes('/ui'));
    expect(ui).toEqual([`code=${statuses[0]},method=GET,route=/ui/{path}`]);
    expect(statuses[1]).toBe(statuses[0]);
    expect(text).not.toContain('one.js');
  });

  it('needs the read token when access control is on', async () => {
    const t = testApp({ KV_AUTH_TOKEN: 'write-token-1', KV_READ_TOKEN: 'read-token-1' });
    expectError(await t.get('/metrics'), 401, 'unauthorized', 'this store requires Authorization: Bearer <token>');
    for (const token of ['read-token-1', 'write-token-1']) {
      const res = await t.get('/metrics', { authorization: `Bearer ${token}` });
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('# TYPE kv_http_requests_total counter');
    }
  });

  it('is not there with KV_METRICS=off: 404 not_found', async () => {
    const t = testApp({ KV_METRICS: 'off' });
    expectError(await t.get('/metrics'), 404, 'not_found', "no resource at '/metrics'; keys live under /v1/");
  });

  it('with KV_METRICS=off counts nothing per request, and a feature can still register into the registry', async () => {
    const { app, send } = await served({ KV_METRICS: 'off' });
    await send('GET', '/healthz');
    const text = await app.metrics.registry.metrics();
    expect(text).toContain('# TYPE kv_http_requests_total counter');
    expect(text).not.toContain('kv_http_requests_total{');
    expect(app.metrics.enabled).toBe(false);
  });
});
