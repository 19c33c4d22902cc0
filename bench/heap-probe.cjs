// A preload for bench/run.sh, loaded into kv_store with
//   NODE_OPTIONS='--require bench/heap-probe.cjs'
// so kv_store itself needs no debug endpoint. On SIGUSR2 it appends one JSON line to the file
// named by KV_PROBE_OUT:
//   { cmd, label, hrtimeUs, pid, rssBytes, memory: process.memoryUsage() (before any GC),
//     afterGc: process.memoryUsage() after two full GCs (cmd "gc" only), heapSpaces (cmd "gc" only),
//     eventLoop: { maxMs, p99Ms, meanMs } of event-loop delay since the previous line }
// The command and label are read from the file KV_PROBE_CMD ("gc <label>" or "mark <label>";
// "gc" when the file is missing). hrtimeUs is on the clock of --cpu-prof's timestamps, so a
// "mark" line brackets a window of a CPU profile. Without KV_PROBE_OUT it does nothing.
'use strict';

const out = process.env.KV_PROBE_OUT;
if (out) {
  const fs = require('node:fs');
  const v8 = require('node:v8');
  const vm = require('node:vm');
  const { monitorEventLoopDelay } = require('node:perf_hooks');

  // A gc() without starting node with --expose-gc: the flag takes effect for new contexts.
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();

  const ms = (ns) => Math.round(ns / 1e4) / 100;

  process.on('SIGUSR2', () => {
    let cmd = 'gc';
    let label = '';
    try {
      const text = fs.readFileSync(process.env.KV_PROBE_CMD || '', 'utf8').trim();
      const space = text.indexOf(' ');
      cmd = space === -1 ? text : text.slice(0, space);
      label = space === -1 ? '' : text.slice(space + 1);
    } catch {
      // no command file: a full measurement
    }
    const line = {
      cmd,
      label,
      hrtimeUs: Number(process.hrtime.bigint() / 1000n),
      time: new Date().toISOString(),
      pid: process.pid,
      memory: process.memoryUsage(),
      eventLoop: { maxMs: ms(delay.max), p99Ms: ms(delay.percentile(99)), meanMs: ms(delay.mean) },
    };
    delay.reset();
    if (cmd === 'gc') {
      const start = process.hrtime.bigint();
      gc();
      gc();
      line.gcMs = Number(process.hrtime.bigint() - start) / 1e6;
      line.afterGc = process.memoryUsage();
      line.heapSpaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]));
    }
    line.rssBytes = line.afterGc ? line.afterGc.rss : line.memory.rss;
    fs.appendFileSync(out, `${JSON.stringify(line)}\n`);
  });
}
