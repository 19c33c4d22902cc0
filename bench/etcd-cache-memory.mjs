// bench/etcd-cache-memory.mjs: what the etcd backend's node cache holds per key, measured.
//
//   node --expose-gc bench/etcd-cache-memory.mjs [keys] [key bytes] [value bytes] [ttl]
//   node --expose-gc bench/etcd-cache-memory.mjs 1000000 16 16        # the row in docs/etcd-backend.md
//
// Feeds `keys` entries to a KeyspaceCache (the built one, src/kv_store/dist) as watch events,
// 1,000 at a time, as a node's watch delivers them, and prints the V8 heap growth per key beside
// what the cache charges per key against KV_MAX_MEMORY_BYTES. Build first (npm run build).
import { KeyspaceCache } from '../src/kv_store/dist/store/etcd/keyspace-cache.js';
import { EtcdLayout, encodeRecord } from '../src/kv_store/dist/store/etcd/stored-record.js';

if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc');
  process.exit(2);
}
const N = Number(process.argv[2] ?? 1_000_000);
const KEY = Number(process.argv[3] ?? 16);
const VALUE = Number(process.argv[4] ?? 16);
const TTL = process.argv[5] === 'ttl';
const used = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const layout = new EtcdLayout('kv/');
const now = Date.now();
globalThis.gc();
globalThis.gc();
const before = used();
const cache = new KeyspaceCache(layout, { maxRevisions: 0, maxBytes: 0 });
let revision = 1;
for (let start = 0; start < N; start += 1000) {
  const events = [];
  for (let i = start; i < Math.min(N, start + 1000); i++) {
    const key = String(i).padStart(KEY, 'k');
    const value = JSON.stringify(String(i).padStart(VALUE - 2, '0'));
    const record = encodeRecord(
      { value, version: 1, createdAt: now, updatedAt: now, expiresAt: TTL ? now + 3_600_000 : Infinity },
      'abcd1234:1',
    );
    events.push({
      kv: {
        key: Buffer.from(`kv/d/${key}`).toString('base64'),
        value: Buffer.from(record).toString('base64'),
        mod_revision: String(revision++),
      },
    });
  }
  cache.apply(events);
}
globalThis.gc();
globalThis.gc();
const growth = used() - before;
const charged = cache.liveCounts(now).bytes;
console.log(
  `${N} keys (key ${KEY} B, value ${VALUE} B${TTL ? ', with TTL' : ''}): heap ${(growth / N).toFixed(1)} B/key, ` +
    `charged ${(charged / N).toFixed(1)} B/key, ${(growth / 1_048_576).toFixed(1)} MiB in all, process RSS ${(process.memoryUsage().rss / 1_048_576).toFixed(0)} MiB`,
);
