#!/usr/bin/env node
// Kill -9 harness for kv_store's persistence: many clients write to a real kv_store process
// (KV_DATA_DIR, KV_FSYNC as asked) with If-Match chains, creates, deletes, TTL writes and
// contested compare-and-set counters; the process is killed (SIGKILL) at random moments,
// restarted on the same data directory and checked against the clients' model:
//   - every acknowledged write is present with its revision, version and expiry (unless a later
//     write, or its TTL, removed it);
//   - nothing refused (409, 412) is present: every value written is unique;
//   - a request cut off by the kill may or may not have happened, but nothing else did;
//   - the store id stays, and the store's revision never goes below an acknowledged one;
//   - an entry whose TTL passed (while the process was up or down) is gone.
// Kill points are counted, not timed: each round kills after 10 to 69 acknowledged writes plus
// a random delay of 0-15 ms, so a slow machine makes no fewer checks, only slower ones.
// Needs a build (npm run build -w src/kv_store: tsc, then dist/kv_store.js).
//
// kv_store runs with small snapshot and segment sizes, so kills also land while snapshots are
// written and segments are begun, and restarts recover from snapshot plus log.
//
//   node scripts/crash-harness.mjs [--kills 50] [--fsync always|everysec|no] [--clients 8] [--keys 6]
//                                  [--snapshot-every 16384] [--segment-bytes 8192] [--watch-history N] [--json]
//
// --watch-history sets KV_WATCH_HISTORY (kv_store's default, 10,000, unless given). Recovery
// replays the newest that many commits of the log as commits, for the change history, and the
// older ones by their bytes (MemoryStore.replayQuietly); the logs here are short (a snapshot
// every 16 KiB), so a small depth is what makes the restarts take the second way.
//
// Prints a summary; with --json the last line is `CRASH_RESULT <json>`. Exits 1 on any violation.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    kills: { type: 'string', default: process.env.CRASH_KILLS ?? '50' },
    fsync: { type: 'string', default: 'always' },
    clients: { type: 'string', default: '8' },
    keys: { type: 'string', default: '6' },
    counters: { type: 'string', default: '3' },
    dir: { type: 'string' },
    'snapshot-every': { type: 'string', default: '16384' },
    'segment-bytes': { type: 'string', default: '8192' },
    'watch-history': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const KILLS = Math.max(1, Number(args.kills));
const FSYNC = args.fsync;
const CLIENTS = Math.max(1, Number(args.clients));
const KEYS_PER_CLIENT = Math.max(1, Number(args.keys));
const COUNTERS = Math.max(1, Number(args.counters));
/** Around an expiry time the clocks of client and server may disagree by this much; either answer is then right. */
const EXPIRY_MARGIN_MS = 250;
const REQUEST_TIMEOUT_MS = 10_000;
const MAIN_JS = fileURLToPath(new URL('../src/kv_store/dist/kv_store.js', import.meta.url));

const violations = [];
/** The server's warnings and errors (a torn tail cut at start-up is expected after a kill). */
const serverWarnings = [];
const counts = {
  fsync: FSYNC,
  kills: 0,
  restarts: 0,
  requests: 0,
  acknowledgedWrites: 0,
  refusedWrites: 0,
  cutOffWrites: 0,
  checkedKeys: 0,
  checkedAcknowledged: 0,
  cutOffApplied: 0,
  cutOffNotApplied: 0,
  ttlWrites: 0,
  expiredChecked: 0,
  casIncrements: 0,
  lost: 0,
  refusedPresent: 0,
  wrong: 0,
  revisionRegressions: 0,
  unexpectedStatus: 0,
  maxRevision: 0,
  snapshotsWritten: 0,
  recoveredFromSnapshot: 0,
  logCommitsReplayed: 0,
  ttlAcrossDowntime: undefined,
};

function violation(kind, detail) {
  if (kind in counts) counts[kind]++;
  if (violations.length < 50) violations.push({ kind, ...detail });
}

// --- the kv_store process ---------------------------------------------------------------------
async function startServer(dataDir) {
  const child = spawn(process.execPath, ['--max-semi-space-size=2', '--initial-old-space-size=64', MAIN_JS], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      KV_HOST: '127.0.0.1',
      KV_PORT: '0',
      KV_LOG_LEVEL: 'info',
      KV_WARM_UP_MS: '0',
      KV_DATA_DIR: dataDir,
      KV_FSYNC: FSYNC,
      KV_SNAPSHOT_EVERY_BYTES: args['snapshot-every'],
      KV_WAL_SEGMENT_BYTES: args['segment-bytes'],
      ...(args['watch-history'] === undefined ? {} : { KV_WATCH_HISTORY: args['watch-history'] }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const lines = out.split('\n');
      out = lines.pop() ?? '';
      for (const line of lines) {
        if (line.includes('kv_store listening')) resolve(JSON.parse(line).address.port);
        else if (line.includes('"msg":"snapshot written"')) counts.snapshotsWritten++;
        else if (line.includes('"msg":"recovered the store from the data directory"')) {
          const recovered = JSON.parse(line);
          if (recovered.snapshotEntries > 0) counts.recoveredFromSnapshot++;
          counts.logCommitsReplayed += recovered.logCommits;
        } else if (/"level":(40|50|60)/.test(line)) serverWarnings.push(line);
      }
    });
    void exited.then(({ code, signal }) => reject(new Error(`kv_store exited (${code ?? signal}) before listening: ${stderr.trim()}`)));
    setTimeout(() => reject(new Error('kv_store did not listen within 60 s')), 60_000).unref();
  });
  return { child, port, exited, base: `http://127.0.0.1:${port}` };
}

// --- HTTP ------------------------------------------------------------------------------------------
/** One request; {status, body, headers} or {cut: true} when the connection broke (the kill). */
async function call(base, method, path, body, headers = {}) {
  counts.requests++;
  try {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text), headers: res.headers };
  } catch (err) {
    return { cut: true, error: String(err?.cause?.code ?? err?.message ?? err) };
  }
}

// --- the model ---------------------------------------------------------------------------------------
// A key's state: undefined (absent) or the entry as last acknowledged. `maybe` is what a write
// cut off by the kill would have made it (it may or may not have happened).
const owned = new Map(); // key -> { state, maybe: [] , refused: Set<value json> }
const counters = new Map(); // key -> { value, revision, cutOff }
let storeId;
let maxAcknowledgedRevision = 0;

function acknowledge(revision) {
  if (revision > maxAcknowledgedRevision) maxAcknowledgedRevision = revision;
}

const entryState = (body) => ({
  value: JSON.stringify(body.value),
  version: body.version,
  revision: body.revision,
  expiresAt: body.expiresAt === null ? null : Date.parse(body.expiresAt),
});

/** Whether `state` (an entry or undefined) can be what a GET made between `before` and `after` saw. */
function matches(state, found, before, after) {
  if (state === undefined) return found === undefined;
  if (state.expiresAt !== null && state.expiresAt <= before - EXPIRY_MARGIN_MS) return found === undefined;
  const mayHaveExpired = state.expiresAt !== null && state.expiresAt <= after + EXPIRY_MARGIN_MS;
  if (found === undefined) return mayHaveExpired;
  return (
    found.value === state.value &&
    found.version === state.version &&
    found.revision === state.revision &&
    found.expiresAt === state.expiresAt
  );
}

// --- clients -----------------------------------------------------------------------------------------
let valueCounter = 0;
const uniqueValue = (client) => ({ c: client, n: ++valueCounter, pad: 'x'.repeat(valueCounter % 40) });

/** A key's state as the client should assume it now: an entry past its time is gone. */
function liveState(state) {
  if (state === undefined || state.expiresAt === null) return state;
  const now = Date.now();
  if (state.expiresAt <= now - EXPIRY_MARGIN_MS) return undefined;
  if (state.expiresAt <= now + EXPIRY_MARGIN_MS) return 'uncertain';
  return state;
}

async function client(id, server, round) {
  const keys = Array.from({ length: KEYS_PER_CLIENT }, (_, i) => `c${id}/k${i}`);
  while (!round.stop) {
    if (Math.random() < 0.15) {
      await casIncrement(server, round);
      continue;
    }
    const key = keys[Math.floor(Math.random() * keys.length)];
    const record = owned.get(key);
    const state = liveState(record.state);
    if (state === 'uncertain') {
      // Too near its expiry to know whether it is there; leave it for now.
      await new Promise((r) => setTimeout(r, 5));
      continue;
    }
    const value = uniqueValue(id);
    const valueJson = JSON.stringify(value);
    const roll = Math.random();
    const ttl = Math.random() < 0.2 ? 1 + Math.floor(Math.random() * 2) : undefined;
    let req;
    if (state === undefined || roll < 0.1) {
      req = { method: 'POST', path: '/v1/', body: { key, value, ...(ttl ? { ttl } : {}) }, expect: state === undefined ? 201 : 409 };
    } else if (roll < 0.2) {
      req = { method: 'PUT', path: `/v1/${key}`, body: { value }, headers: { 'if-match': `"${state.revision - 1}"` }, expect: 412 };
    } else if (roll < 0.35) {
      req = { method: 'DELETE', path: `/v1/${key}`, headers: { 'if-match': `"${state.revision}"` }, expect: 204 };
    } else {
      req = {
        method: 'PUT',
        path: `/v1/${key}`,
        body: { value, ...(ttl ? { ttl } : {}) },
        headers: { 'if-match': `"${state.revision}"` },
        expect: 200,
      };
    }
    // What the write makes the key, should it happen.
    const sentAt = Date.now();
    const res = await call(server.base, req.method, req.path, req.body, req.headers);
    if (res.cut) {
      counts.cutOffWrites++;
      if (req.expect === 201 || req.expect === 200) {
        record.maybe.push({ kind: 'put', value: valueJson, version: req.expect === 201 ? 1 : state.version + 1, ttl, sentAt });
      } else if (req.expect === 204) {
        record.maybe.push({ kind: 'delete' });
      } else {
        record.refused.add(valueJson);
      }
      return;
    }
    if (res.status === req.expect && (res.status === 201 || res.status === 200)) {
      counts.acknowledgedWrites++;
      if (ttl) counts.ttlWrites++;
      const next = entryState(res.body);
      if (next.value !== valueJson) violation('wrong', { key, detail: 'the answer of a write does not hold its value' });
      if (state !== undefined && next.revision <= state.revision)
        violation('revisionRegressions', { key, was: state.revision, now: next.revision });
      record.state = next;
      acknowledge(next.revision);
      round.acks++;
    } else if (res.status === 204 && req.expect === 204) {
      counts.acknowledgedWrites++;
      record.state = undefined;
      acknowledge(Number(res.headers.get('kv-revision')));
      round.acks++;
    } else if (res.status === req.expect) {
      counts.refusedWrites++;
      record.refused.add(valueJson);
    } else if (res.status === 404 && record.state?.expiresAt !== null && record.state?.expiresAt <= Date.now() + EXPIRY_MARGIN_MS) {
      // It expired just now.
      record.state = undefined;
      record.refused.add(valueJson);
    } else {
      violation('unexpectedStatus', { key, method: req.method, expected: req.expect, got: res.status, body: res.body });
      return;
    }
  }
}

async function casIncrement(server, round) {
  const key = `counter-${Math.floor(Math.random() * COUNTERS)}`;
  const c = counters.get(key);
  const read = await call(server.base, 'GET', `/v1/${key}`);
  if (read.cut || read.status !== 200) {
    if (!read.cut) violation('unexpectedStatus', { key, method: 'GET', got: read.status });
    return;
  }
  const res = await call(server.base, 'PUT', `/v1/${key}`, { value: read.body.value + 1 }, { 'if-match': `"${read.body.revision}"` });
  if (res.cut) {
    c.cutOff++;
    counts.cutOffWrites++;
    return;
  }
  if (res.status === 200) {
    c.acknowledged++;
    counts.casIncrements++;
    counts.acknowledgedWrites++;
    acknowledge(res.body.revision);
    round.acks++;
  } else if (res.status === 412) {
    counts.refusedWrites++;
  } else {
    violation('unexpectedStatus', { key, method: 'PUT', got: res.status });
  }
}

// --- checks after a restart ---------------------------------------------------------------------------
async function verify(server) {
  for (const [key, record] of owned) {
    const before = Date.now();
    const res = await call(server.base, 'GET', `/v1/${key}`);
    const after = Date.now();
    if (res.cut || (res.status !== 200 && res.status !== 404)) {
      violation('unexpectedStatus', { key, method: 'GET', got: res.status ?? res.error });
      continue;
    }
    checkHeaders(res);
    const found = res.status === 200 ? entryState(res.body) : undefined;
    counts.checkedKeys++;
    if (record.state !== undefined) counts.checkedAcknowledged++;
    if (record.state?.expiresAt != null && record.state.expiresAt <= before - EXPIRY_MARGIN_MS) counts.expiredChecked++;
    let ok = matches(record.state, found, before, after);
    if (ok && record.maybe.length > 0) counts.cutOffNotApplied++;
    for (const m of record.maybe) {
      if (ok) continue;
      if (found === undefined) {
        // A cut-off delete that happened, or a cut-off TTL write that happened and has expired since.
        if (m.kind === 'delete' || (m.ttl !== undefined && m.sentAt + m.ttl * 1000 <= after + EXPIRY_MARGIN_MS)) {
          ok = true;
          counts.cutOffApplied++;
        }
        continue;
      }
      // A cut-off write that happened: its value, the version after, a revision past every one known before.
      if (m.kind === 'put' && found.value === m.value && found.version === m.version) {
        const expiry = m.ttl === undefined ? null : found.expiresAt;
        if (expiry === found.expiresAt && (m.ttl === undefined || Math.abs(found.expiresAt - (m.sentAt + m.ttl * 1000)) < 60_000)) {
          ok = true;
          counts.cutOffApplied++;
        }
      }
    }
    if (!ok) {
      if (found !== undefined && record.refused.has(found.value)) violation('refusedPresent', { key, found });
      else if (found === undefined) violation('lost', { key, expected: record.state });
      else violation('wrong', { key, expected: record.state, found, maybe: record.maybe });
    }
    // What the store holds now is what the clients go on from.
    record.state = found;
    record.maybe = [];
  }
  for (const [key, c] of counters) {
    const res = await call(server.base, 'GET', `/v1/${key}`);
    if (res.cut || res.status !== 200) {
      violation('lost', { key, got: res.status ?? res.error });
      continue;
    }
    checkHeaders(res);
    const value = res.body.value;
    const low = c.value + c.acknowledged;
    if (value < low || value > low + c.cutOff)
      violation(value < low ? 'lost' : 'wrong', { key, value, acknowledged: low, cutOff: c.cutOff });
    if (res.body.revision < c.revision) violation('revisionRegressions', { key, was: c.revision, now: res.body.revision });
    counters.set(key, { value, revision: res.body.revision, acknowledged: 0, cutOff: 0 });
  }
}

function checkHeaders(res) {
  const id = res.headers.get('kv-store-id');
  if (storeId === undefined) storeId = id;
  else if (id !== storeId) violation('wrong', { detail: `the store id changed from ${storeId} to ${id}` });
  const revision = Number(res.headers.get('kv-revision'));
  if (revision < maxAcknowledgedRevision)
    violation('revisionRegressions', { detail: `KV-Revision ${revision} after ${maxAcknowledgedRevision} was acknowledged` });
  if (revision > counts.maxRevision) counts.maxRevision = revision;
}

/**
 * TTLs are absolute times: a key whose TTL ends while kv_store is down is gone when it comes
 * back; one whose TTL has not ended comes back with the same expiresAt.
 */
async function ttlAcrossDowntime() {
  const short = await call(server.base, 'POST', '/v1/', { key: 'ttl-short', value: 'short', ttl: 1 });
  const long = await call(server.base, 'POST', '/v1/', { key: 'ttl-long', value: 'long', ttl: 3600 });
  if (short.status !== 201 || long.status !== 201) throw new Error(`TTL writes answered ${short.status}, ${long.status}`);
  acknowledge(long.body.revision);
  server.child.kill('SIGKILL');
  await server.exited;
  counts.kills++;
  // Down for longer than the short TTL.
  await new Promise((r) => setTimeout(r, Date.parse(short.body.expiresAt) - Date.now() + 2 * EXPIRY_MARGIN_MS));
  server = await startServer(dataDir);
  counts.restarts++;
  const afterShort = await call(server.base, 'GET', '/v1/ttl-short');
  const afterLong = await call(server.base, 'GET', '/v1/ttl-long');
  counts.ttlAcrossDowntime = {
    expiredWhileDown: afterShort.status === 404,
    keptExpiry:
      afterLong.status === 200 && afterLong.body.expiresAt === long.body.expiresAt && afterLong.body.revision === long.body.revision,
  };
  if (!counts.ttlAcrossDowntime.expiredWhileDown)
    violation('wrong', { key: 'ttl-short', detail: 'present after its TTL ended while kv_store was down', got: afterShort.status });
  if (!counts.ttlAcrossDowntime.keptExpiry) violation('lost', { key: 'ttl-long', expected: long.body, got: afterLong.body });
}

// --- the run -------------------------------------------------------------------------------------------
const dataDir = args.dir ?? mkdtempSync(join(tmpdir(), `kv-crash-${FSYNC}-`));
for (let c = 0; c < CLIENTS; c++) {
  for (let k = 0; k < KEYS_PER_CLIENT; k++) owned.set(`c${c}/k${k}`, { state: undefined, maybe: [], refused: new Set() });
}

let server;
const started = Date.now();
try {
  server = await startServer(dataDir);
  for (let i = 0; i < COUNTERS; i++) {
    const res = await call(server.base, 'POST', '/v1/', { key: `counter-${i}`, value: 0 });
    if (res.status !== 201) throw new Error(`could not create counter-${i}: ${res.status}`);
    checkHeaders(res);
    acknowledge(res.body.revision);
    counters.set(`counter-${i}`, { value: 0, revision: res.body.revision, acknowledged: 0, cutOff: 0 });
  }
  for (let k = 0; k < KILLS; k++) {
    const round = { stop: false, acks: 0 };
    const killAfter = 10 + Math.floor(Math.random() * 60);
    const clients = Array.from({ length: CLIENTS }, (_, id) => client(id, server, round));
    while (round.acks < killAfter && violations.length === 0) await new Promise((r) => setTimeout(r, 1));
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 15)));
    server.child.kill('SIGKILL');
    await server.exited;
    counts.kills++;
    round.stop = true;
    await Promise.all(clients);
    server = await startServer(dataDir);
    counts.restarts++;
    await verify(server);
    if (violations.length > 0) break;
  }
  await ttlAcrossDowntime();
  // A clean stop and start at the end: SIGTERM flushes, the next start finds everything.
  server.child.kill('SIGTERM');
  const { code } = await server.exited;
  if (code !== 0) violation('unexpectedStatus', { detail: `exit code ${code} after SIGTERM` });
  server = await startServer(dataDir);
  await verify(server);
  server.child.kill('SIGTERM');
  await server.exited;
} catch (err) {
  violation('unexpectedStatus', { detail: String(err?.stack ?? err) });
  server?.child.kill('SIGKILL');
} finally {
  if (violations.length > 0) console.log(`the data directory is kept for inspection: ${dataDir}`);
  else if (args.dir === undefined) rmSync(dataDir, { recursive: true, force: true });
}
counts.serverWarnings = serverWarnings.length;
if (violations.length > 0) for (const w of serverWarnings.slice(-10)) console.log('SERVER', w);

const result = { ...counts, seconds: Math.round((Date.now() - started) / 1000), violations };
console.log(
  `crash harness (KV_FSYNC=${FSYNC}): ${counts.kills} kills, ${counts.acknowledgedWrites} acknowledged writes ` +
    `(${counts.casIncrements} CAS increments, ${counts.ttlWrites} with TTL), ${counts.refusedWrites} refused, ` +
    `${counts.cutOffWrites} cut off by a kill (${counts.cutOffApplied} found applied, ${counts.cutOffNotApplied} not); ` +
    `${counts.checkedKeys} key checks after restarts (${counts.checkedAcknowledged} of acknowledged entries, ${counts.expiredChecked} expired); ` +
    `lost ${counts.lost}, refused present ${counts.refusedPresent}, wrong ${counts.wrong}, revision regressions ${counts.revisionRegressions}, ` +
    `unexpected ${counts.unexpectedStatus}; ${counts.snapshotsWritten} snapshots written, ${counts.recoveredFromSnapshot} restarts from a snapshot, ` +
    `${counts.logCommitsReplayed} logged commits replayed${args['watch-history'] === undefined ? '' : ` (all but the newest ${args['watch-history']} of each restart by their bytes)`}; ${result.seconds} s`,
);
for (const v of violations.slice(0, 10)) console.log('VIOLATION', JSON.stringify(v));
if (args.json) console.log(`CRASH_RESULT ${JSON.stringify(result)}`);
process.exit(violations.length > 0 ? 1 : 0);
