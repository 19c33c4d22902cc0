// Memory readings for bench/run.sh; each prints one JSON line on stdout.
//
//   node bench/memory.mjs probe <pid> <cmd-file> <probe-out> <gc|mark> [label]
//     asks bench/heap-probe.cjs inside a node process for a reading (SIGUSR2), waits for it and
//     adds VmRSS/VmHWM from /proc/<pid>/status
//   node bench/memory.mjs redis <port> <pid> [label]
//     redis INFO memory (used_memory, used_memory_rss, ...) and DBSIZE, plus VmRSS/VmHWM
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** VmRSS, VmHWM (peak RSS) and VmSize of a process, in bytes. */
export function procStatus(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m === null ? null : Number(m[1]) * 1024;
  };
  return { vmRssBytes: field('VmRSS'), vmHwmBytes: field('VmHWM'), vmSizeBytes: field('VmSize') };
}

function lineCount(file) {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
}

async function probe(pid, cmdFile, outFile, cmd, label = '') {
  const before = lineCount(outFile);
  writeFileSync(cmdFile, `${cmd} ${label}`.trim());
  process.kill(Number(pid), 'SIGUSR2');
  // A full GC of a few hundred MB takes well under a second; allow 60 s on a busy machine.
  for (let i = 0; i < 600; i++) {
    if (lineCount(outFile) > before) {
      const lines = readFileSync(outFile, 'utf8').split('\n').filter(Boolean);
      const reading = JSON.parse(lines[lines.length - 1]);
      return { ...reading, ...procStatus(pid) };
    }
    await sleep(100);
  }
  throw new Error(`no answer from the heap probe of pid ${pid} within 60 s (is it loaded? NODE_OPTIONS=--require bench/heap-probe.cjs)`);
}

function redis(port, pid, label = '') {
  const info = execFileSync('redis-cli', ['-p', String(port), 'INFO', 'memory'], { encoding: 'utf8' });
  const fields = {};
  for (const line of info.split(/\r?\n/)) {
    const m = /^(\w+):(.*)$/.exec(line);
    if (m !== null) fields[m[1]] = /^-?\d+(\.\d+)?$/.test(m[2]) ? Number(m[2]) : m[2];
  }
  const dbsize = Number(execFileSync('redis-cli', ['-p', String(port), 'DBSIZE'], { encoding: 'utf8' }).trim());
  return {
    label,
    pid: Number(pid),
    dbsize,
    usedMemory: fields.used_memory,
    usedMemoryRss: fields.used_memory_rss,
    usedMemoryDataset: fields.used_memory_dataset,
    allocator: fields.mem_allocator,
    ...procStatus(pid),
  };
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'probe') {
  const [pid, cmdFile, outFile, cmd, label] = args;
  process.stdout.write(`${JSON.stringify(await probe(pid, cmdFile, outFile, cmd, label))}\n`);
} else if (mode === 'redis') {
  const [port, pid, label] = args;
  process.stdout.write(`${JSON.stringify(redis(port, pid, label))}\n`);
} else {
  process.stderr.write('usage: memory.mjs probe <pid> <cmd-file> <probe-out> <gc|mark> [label] | redis <port> <pid> [label]\n');
  process.exit(2);
}
