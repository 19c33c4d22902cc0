// What counting one answer costs: kv_store's RequestMetrics.observe against prom-client's own
// labelled Counter and Histogram children (which kv_store does not use on the request path).
// Build first (make build); then: node bench/metrics-cost.mjs [calls]. Prints ns per call.
import { Counter, Histogram, Registry } from 'prom-client';
import { DURATION_BUCKETS, RequestMetrics } from '../src/kv_store/dist/metrics/request-metrics.js';

const N = Number(process.argv[2] ?? 5_000_000);
const registry = new Registry();
const ours = new RequestMetrics(registry);
const counter = new Counter({ name: 'c_total', help: 'c', labelNames: ['method', 'route', 'code'], registers: [] });
const histogram = new Histogram({
  name: 'h_seconds',
  help: 'h',
  labelNames: ['method', 'route'],
  buckets: DURATION_BUCKETS,
  registers: [],
});
const counterChild = counter.labels('GET', '/v1/{key}', '200');
const histogramChild = histogram.labels('GET', '/v1/{key}');
const seconds = (i) => 0.00005 + (i & 7) * 0.00002;

function time(name, fn) {
  const start = performance.now();
  for (let i = 0; i < N; i++) fn(i);
  console.log(`${name.padEnd(44)} ${(((performance.now() - start) * 1e6) / N).toFixed(0).padStart(6)} ns`);
}
for (let round = 1; round <= 3; round++) {
  console.log(`round ${round}, ${N} calls each`);
  time('kv_store RequestMetrics.observe (both series)', (i) => ours.observe('GET', '/v1/{key}', 200, seconds(i)));
  time('prom-client Counter child inc', () => counterChild.inc());
  time('prom-client Histogram child observe', (i) => histogramChild.observe(seconds(i)));
}
