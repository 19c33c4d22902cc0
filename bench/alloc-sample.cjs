// Preloaded into kv_store (node -r bench/alloc-sample.cjs ...) by bench/alloc-profile.sh: samples
// every allocation between ALLOC_FROM_S and ALLOC_TO_S seconds after start, also those the
// collector has freed since (V8's sampling heap profiler keeps only live ones by default), and
// writes the profile to ALLOC_OUT. A request's garbage is what it costs the collector.
const inspector = require('node:inspector');
const fs = require('node:fs');

const session = new inspector.Session();
session.connect();
const from = Number(process.env.ALLOC_FROM_S ?? 8);
const to = Number(process.env.ALLOC_TO_S ?? 13);
const options = { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true };
setTimeout(() => session.post('HeapProfiler.startSampling', options), from * 1000).unref();
setTimeout(() => {
  session.post('HeapProfiler.stopSampling', (err, result) => {
    if (err) throw err;
    fs.writeFileSync(process.env.ALLOC_OUT ?? 'alloc.heapprofile', JSON.stringify(result.profile));
  });
}, to * 1000).unref();
