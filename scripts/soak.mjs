#!/usr/bin/env node
// Soak test for kv_store: several concurrent clients create, overwrite, conditionally write
// (If-Match), delete and TTL-write keys against a real kv_store process, while a model checks
// every read against every acknowledged write. Nothing acknowledged may be lost, no read may be
// stale after an acknowledged write, store-wide revisions only grow, contested compare-and-set
// counters end at exactly the number of acknowledged increments, and the server's RSS stays flat
// after warm-up. Needs a build (npm run build -w src/kv_store: tsc, then dist/kv_store.js).
//
//   node scripts/soak.mjs [--duration 30] [--min-writes 0] [--clients 8] [--keys 64] [--url http://127.0.0.1:8080] [--json]
//
// The run lasts --duration seconds and, past that, until --min-writes writes have been
// acknowledged (so a slow or busy machine makes it longer, never smaller); a run still short of
// them --duration + 120 s after it began stops there, and its result says so.
//
// Without --url it starts `node src/kv_store/dist/kv_store.js` on a free port, samples its RSS from
// /proc/<pid>/status and stops it with SIGTERM at the end (expecting exit code 0). Prints a
// summary; with --json, the last line is `SOAK_RESULT <json>`. Exits 1 on any violation.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: process.env.SOAK_DURATION_S ?? '30' },
    'min-writes': { type: 'string', default: '0' },
    clients: { type: 'string', default: '8' },
    keys: { type: 'string', default: '64' },
    counters: { type: 'string', default: '4' },
    url: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const DURATION_MS = Math.max(1, Number(args.duration)) * 1000;
const MIN_WRITES = Math.max(0, Number(args['min-writes']));
/** A run still short of MIN_WRITES this long after the duration has hung: it stops there. */
const OVERTIME_LIMIT_MS = 120_000;
const CLIENTS = Math.max(1, Number(args.clients));
const KEYS_PER_CLIENT = Math.max(1, Number(args.keys));
const COUNTERS = Math.max(1, Number(args.counters));
const REQUEST_TIMEOUT_MS = 10_000;
/** Warm-up: RSS after it is the baseline that the rest of the run must stay near. */
const WARMUP_MS = Math.max(5_000, DURATION_MS / 4);
/** How far RSS may rise above the warm-up baseline and still count as flat. */
const RSS_SLACK_BYTES = (rss) => Math.max(32 * 1_048_576, rss * 0.25);
const MAIN_JS = fileURLToPath(new URL('../src/kv_store/dist/kv_store.js', import.meta.url));

const violations = [];
const counts = {
  requests: 0,
  byOp: {},
  ackedWrites: 0,
  verifiedWrites: 0,
  ownerReads: 0,
  foreignReads: 0,
  lost: 0,
  stale: 0,
  phantom: 0,
  revisionRegressions: 0,
  unexpectedStatus: 0,
  networkErrors: 0,
  casIncrements: 0,
  casConflicts: 0,
  ttlWrites: 0,
  expiriesSeen: 0,
};

function violation(kind, detail) {
  if (kind in counts) counts[kind]++;
  if (violations.length < 50) violations.push(`${kind}: ${detail}`);
}

// --- the server -----------------------------------------------------------------------------

async function startServer() {
  const child = spawn(process.execPath, [MAIN_JS], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', KV_HOST: '127.0.0.1', KV_PORT: '0', KV_LOG_LEVEL: 'info', KV_WARM_UP_MS: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  // Never leave the server behind, whatever ends this script.
  const killChild = () => child.exitCode === null && child.kill('SIGKILL');
  process.once('exit', killChild);
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      killChild();
      process.exit(130);
    });
  }
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`kv_store did not start within 10 s: ${stderr}`)), 10_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /"msg":"kv_store listening"/.test(out) && /"port":(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    exited.then(({ code }) => reject(new Error(`kv_store exited with ${code}: ${stderr}`)));
  });
  child.stdout.resume();
  return { child, port, exited, stderr: () => stderr };
}

function rssOf(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

// --- HTTP -----------------------------------------------------------------------------------

let baseUrl = args.url ?? '';

/** One request; resolves {status, entry|error, t0, t1} or {status: 0, error} on network failure. */
async function call(op, method, path, body, headers = {}) {
  counts.requests++;
  counts.byOp[op] = (counts.byOp[op] ?? 0) + 1;
  const t0 = Date.now();
  try {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    const t1 = Date.now();
    let json;
    if (text !== '') {
      try {
        json = JSON.parse(text);
      } catch {
        violation('unexpectedStatus', `${method} ${path}: ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`);
      }
    }
    if (res.status >= 500) violation('unexpectedStatus', `${method} ${path}: ${res.status} ${text.slice(0, 200)}`);
    return { status: res.status, json, etag: res.headers.get('etag'), t0, t1 };
  } catch (err) {
    counts.networkErrors++;
    violation('networkErrors', `${method} ${path}: ${err.message}`);
    return { status: 0, t0, t1: Date.now() };
  }
}

const enc = (key) => `/v1/${encodeURIComponent(key)}`;

// --- the model ------------------------------------------------------------------------------

/**
 * Per key: the state as of the last acknowledged operation (owner's view; the owner is the only
 * writer), and every value ever written, by revision, for checking other clients' reads.
 */
class KeyModel {
  constructor(key) {
    this.key = key;
    /** undefined = absent; else {value (canonical JSON text), revision, version, expiresAt (ms or null), verified} */
    this.state = undefined;
    this.written = new Map(); // revision -> value text (acknowledged writes)
    this.pending = new Set(); // value texts of writes in flight
    this.lastAckedRevision = 0; // revision of the last acknowledged write
    this.opsSent = 0; // owner operations sent, for other clients' reads
  }

  /** 'present' | 'absent' | 'uncertain' (a TTL ends somewhere within [t0, t1]). */
  status(t0, t1) {
    const s = this.state;
    if (s === undefined) return 'absent';
    if (s.expiresAt === null || s.expiresAt > t1 + 1) return 'present';
    if (s.expiresAt <= t0 - 1) return 'absent';
    return 'uncertain';
  }
}

let maxRevisionSeen = 0;

/** Checks an entry returned by an acknowledged write and makes it the key's state. */
function acknowledge(model, res, valueText, expectedVersion, revisionFloor) {
  const e = res.json;
  counts.ackedWrites++;
  if (e?.key !== model.key || JSON.stringify(e.value) !== valueText) {
    violation('unexpectedStatus', `write of ${model.key} answered ${JSON.stringify(e).slice(0, 200)}, expected value ${valueText}`);
  }
  if (expectedVersion !== undefined && e?.version !== expectedVersion) {
    violation('unexpectedStatus', `write of ${model.key}: version ${e?.version}, expected ${expectedVersion}`);
  }
  if (!(e?.revision > revisionFloor)) {
    violation(
      'revisionRegressions',
      `write of ${model.key} got revision ${e?.revision}, not above ${revisionFloor} (acknowledged before it was sent)`,
    );
  }
  if (res.etag !== `"${e?.revision}"`) violation('unexpectedStatus', `write of ${model.key}: ETag ${res.etag} for revision ${e?.revision}`);
  maxRevisionSeen = Math.max(maxRevisionSeen, e?.revision ?? 0);
  const expiresAt = e?.expiresAt === null ? null : Date.parse(e?.expiresAt);
  model.state = { value: valueText, revision: e?.revision, version: e?.version, expiresAt, verified: false };
  model.written.set(e?.revision, valueText);
  model.lastAckedRevision = e?.revision;
}

/** Checks the owner's read against the model: exact value, revision and version, or 404 when absent. */
function checkOwnerRead(model, res) {
  counts.ownerReads++;
  const st = model.status(res.t0, res.t1);
  if (res.status === 200) {
    const e = res.json;
    const s = model.state;
    if (st === 'absent' || s === undefined) {
      violation('phantom', `GET ${model.key} answered revision ${e?.revision} but the key was deleted or expired`);
      return;
    }
    if (e?.revision < s.revision) {
      violation('stale', `GET ${model.key} answered revision ${e?.revision} after revision ${s.revision} was acknowledged`);
    } else if (e?.revision !== s.revision || JSON.stringify(e?.value) !== s.value || e?.version !== s.version) {
      violation(
        'phantom',
        `GET ${model.key} answered r${e?.revision} v${e?.version} ${JSON.stringify(e?.value)}, model r${s.revision} v${s.version} ${s.value}`,
      );
    } else if (!s.verified) {
      s.verified = true;
      counts.verifiedWrites++;
    }
  } else if (res.status === 404) {
    if (st === 'present') {
      violation('lost', `GET ${model.key} answered 404, but revision ${model.state?.revision} was acknowledged and has not expired`);
    } else if (model.state !== undefined) {
      counts.expiriesSeen++;
      model.state = undefined;
    }
  } else if (res.status !== 0) {
    violation('unexpectedStatus', `GET ${model.key}: ${res.status}`);
  }
}

// --- one client -----------------------------------------------------------------------------

const VALUE_SHAPES = [
  (w, n) => `v-${w}-${n}`,
  (_w, n) => n,
  (w, n) => ({ client: w, n, tags: ['a', 'b', n % 7], nested: { ok: n % 2 === 0, text: 'ключ ✓ 😀' } }),
  (_w, n) => [n, `${n}`, null, true, { n }],
  (_w, n) => 'x'.repeat(100 + (n % 900)),
];

function pick(rng, list) {
  return list[Math.floor(rng() * list.length)];
}

/** A small deterministic PRNG per client (mulberry32), so a run's op mix is reproducible. */
function rngFor(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const models = [];
const casLog = [];
/** A tag for this run's keys, so a run against a long-lived store (--url) starts from nothing. */
const RUN = `soak-${process.pid.toString(36)}${Date.now().toString(36)}`;

async function ownerOp(w, rng, model, n) {
  const valueText = JSON.stringify(pick(rng, VALUE_SHAPES)(w, n));
  const r = rng();
  const ttl = rng() < 0.15 ? pick(rng, [0.2, 0.5, 1, 2, 30]) : undefined;
  const ttlPart = ttl === undefined ? '' : `,"ttl":${ttl}`;
  const floor = maxRevisionSeen;
  const before = model.state;
  model.opsSent++;
  // A write in flight may be seen by other clients before it is acknowledged.
  if (r < 0.5) model.pending.add(valueText);
  try {
    if (r < 0.25) {
      // Create.
      const res = await call('create', 'POST', '/v1/', `{"key":${JSON.stringify(model.key)},"value":${valueText}${ttlPart}}`);
      const st = model.status(res.t0, res.t1);
      if (res.status === 201) {
        if (st === 'present') violation('lost', `POST ${model.key} created it again while revision ${before?.revision} was live`);
        if (ttl !== undefined) counts.ttlWrites++;
        acknowledge(model, res, valueText, 1, floor);
      } else if (res.status === 409) {
        if (st === 'absent') violation('phantom', `POST ${model.key} answered 409 but the key was deleted or expired`);
      } else if (res.status !== 0) violation('unexpectedStatus', `POST ${model.key}: ${res.status} ${JSON.stringify(res.json)}`);
    } else if (r < 0.5) {
      // Overwrite, half of them conditional: with the current ETag (must succeed) or a stale one (must be refused).
      const conditional = rng() < 0.5 && before !== undefined;
      const stale = conditional && rng() < 0.3;
      const headers = conditional ? { 'if-match': `"${stale ? before.revision - 1 : before.revision}"` } : {};
      const res = await call(
        conditional ? (stale ? 'put-stale-if-match' : 'put-if-match') : 'put',
        'PUT',
        enc(model.key),
        `{"value":${valueText}${ttlPart}}`,
        headers,
      );
      const st = model.status(res.t0, res.t1);
      if (res.status === 200) {
        if (st === 'absent') violation('phantom', `PUT ${model.key} succeeded on a deleted or expired key`);
        if (stale) violation('unexpectedStatus', `PUT ${model.key} with a stale If-Match succeeded`);
        if (ttl !== undefined) counts.ttlWrites++;
        acknowledge(model, res, valueText, st === 'present' ? (before?.version ?? 0) + 1 : undefined, floor);
      } else if (res.status === 404) {
        if (st === 'present')
          violation('lost', `PUT ${model.key} answered 404, but revision ${before?.revision} was acknowledged and live`);
        model.state = undefined;
      } else if (res.status === 412) {
        if (!stale && st === 'present')
          violation('unexpectedStatus', `PUT ${model.key} with the current ETag "${before?.revision}" was refused`);
      } else if (res.status !== 0) violation('unexpectedStatus', `PUT ${model.key}: ${res.status} ${JSON.stringify(res.json)}`);
    } else if (r < 0.62) {
      // Delete, some conditional.
      const conditional = rng() < 0.4 && before !== undefined;
      const headers = conditional ? { 'if-match': `"${before.revision}"` } : {};
      const res = await call(conditional ? 'delete-if-match' : 'delete', 'DELETE', enc(model.key), undefined, headers);
      const st = model.status(res.t0, res.t1);
      if (res.status === 204) {
        if (st === 'absent') violation('phantom', `DELETE ${model.key} answered 204 on a deleted or expired key`);
        counts.ackedWrites++;
        model.state = undefined;
      } else if (res.status === 404) {
        if (st === 'present')
          violation('lost', `DELETE ${model.key} answered 404, but revision ${before?.revision} was acknowledged and live`);
        model.state = undefined;
      } else if (res.status === 412) {
        if (st === 'present') violation('unexpectedStatus', `DELETE ${model.key} with the current ETag was refused`);
      } else if (res.status !== 0) violation('unexpectedStatus', `DELETE ${model.key}: ${res.status}`);
    } else {
      const res = await call('read', 'GET', enc(model.key));
      checkOwnerRead(model, res);
    }
  } finally {
    model.pending.delete(valueText);
  }
  // Read back half of the writes at once: an acknowledged write must be visible, exactly.
  if (r < 0.62 && rng() < 0.5) checkOwnerRead(model, await call('read-back', 'GET', enc(model.key)));
}

/** Reads a key another client owns: the answer must be a value that was written, never older than what was acknowledged before the read. */
async function foreignRead(model) {
  counts.foreignReads++;
  const floor = model.lastAckedRevision;
  const opsBefore = model.opsSent;
  const stateBefore = model.state;
  const pendingBefore = new Set(model.pending);
  const res = await call('foreign-read', 'GET', enc(model.key));
  const concurrent = model.opsSent !== opsBefore || pendingBefore.size > 0;
  if (res.status === 200) {
    const e = res.json;
    const text = JSON.stringify(e?.value);
    const known = model.written.get(e?.revision);
    const goneAtSend = stateBefore === undefined || (stateBefore.expiresAt !== null && stateBefore.expiresAt <= res.t0 - 1);
    if (e?.revision < floor) {
      violation('stale', `another client read ${model.key} at revision ${e?.revision} after revision ${floor} was acknowledged`);
    } else if (goneAtSend && !concurrent && e?.revision <= floor) {
      violation('stale', `another client read ${model.key} at revision ${e?.revision}, which was deleted or had expired before the read`);
    } else if (known === undefined ? !pendingBefore.has(text) && !model.pending.has(text) : known !== text) {
      violation('phantom', `another client read ${model.key} = ${text} at revision ${e?.revision}, which no write produced`);
    }
  } else if (res.status === 404) {
    const couldExpire = stateBefore?.expiresAt != null && stateBefore.expiresAt <= res.t1 + 1;
    if (stateBefore !== undefined && !concurrent && !couldExpire && model.state !== undefined) {
      violation('lost', `another client read ${model.key} as 404, but revision ${stateBefore.revision} was acknowledged and live`);
    }
  } else if (res.status !== 0) violation('unexpectedStatus', `foreign GET ${model.key}: ${res.status}`);
}

/** A compare-and-set increment of a contested counter: read, then PUT with If-Match until it lands. */
async function casIncrement(counter) {
  for (let attempt = 0; attempt < 20; attempt++) {
    const read = await call('cas-read', 'GET', enc(counter));
    if (read.status !== 200) {
      violation('lost', `counter ${counter} read as ${read.status}`);
      return;
    }
    const n = read.json.value;
    const res = await call('cas-put', 'PUT', enc(counter), `{"value":${n + 1}}`, { 'if-match': read.etag });
    if (res.status === 200) {
      counts.casIncrements++;
      counts.ackedWrites++;
      casLog.push({ counter, value: res.json.value, revision: res.json.revision });
      if (res.json.value !== n + 1) violation('phantom', `counter ${counter}: PUT of ${n + 1} answered ${res.json.value}`);
      return;
    }
    if (res.status !== 412) {
      violation('unexpectedStatus', `counter ${counter}: PUT answered ${res.status}`);
      return;
    }
    counts.casConflicts++;
  }
}

/** Goes on until the duration has passed and MIN_WRITES are acknowledged, or the overtime limit. */
function goOn(deadline) {
  const now = Date.now();
  return now < deadline || (counts.ackedWrites < MIN_WRITES && now < deadline + OVERTIME_LIMIT_MS);
}

async function client(w, deadline) {
  const rng = rngFor(0x9e3779b9 ^ (w * 7919));
  const mine = models.slice(w * KEYS_PER_CLIENT, (w + 1) * KEYS_PER_CLIENT);
  for (let n = 0; goOn(deadline) && n < 10_000_000; n++) {
    const r = rng();
    if (r < 0.8) await ownerOp(w, rng, pick(rng, mine), n);
    else if (r < 0.9) await foreignRead(pick(rng, models));
    else await casIncrement(`${RUN}/counter/${Math.floor(rng() * COUNTERS)}`);
  }
}

// --- the run --------------------------------------------------------------------------------

async function main() {
  const server = args.url === undefined ? await startServer() : undefined;
  if (server !== undefined) baseUrl = `http://127.0.0.1:${server.port}`;
  const rss = { samples: [], start: undefined, warm: undefined, maxAfterWarm: 0, end: undefined };
  const started = Date.now();
  const sampler =
    server === undefined
      ? undefined
      : setInterval(() => {
          const v = rssOf(server.child.pid);
          if (v === undefined) return;
          const at = Date.now() - started;
          rss.samples.push([at, v]);
          if (at >= WARMUP_MS) {
            rss.warm ??= v;
            rss.maxAfterWarm = Math.max(rss.maxAfterWarm, v);
          }
        }, 250);
  if (server !== undefined) rss.start = rssOf(server.child.pid);

  for (let w = 0; w < CLIENTS; w++) for (let i = 0; i < KEYS_PER_CLIENT; i++) models.push(new KeyModel(`${RUN}/${w}/${i} ✓`));
  for (let c = 0; c < COUNTERS; c++) {
    const res = await call('setup', 'POST', '/v1/', `{"key":"${RUN}/counter/${c}","value":0}`);
    if (res.status !== 201) throw new Error(`cannot create counter ${c}: ${res.status}`);
  }

  const deadline = started + DURATION_MS;
  await Promise.all(Array.from({ length: CLIENTS }, (_, w) => client(w, deadline)));
  if (counts.ackedWrites < MIN_WRITES) {
    violation(
      'unexpectedStatus',
      `only ${counts.ackedWrites} of ${MIN_WRITES} writes acknowledged ${OVERTIME_LIMIT_MS / 1000} s past the duration`,
    );
  }

  // Final pass: every key reads exactly as the model says; every counter holds its increments.
  for (const model of models) checkOwnerRead(model, await call('final-read', 'GET', enc(model.key)));
  const counterChecks = [];
  for (let c = 0; c < COUNTERS; c++) {
    const key = `${RUN}/counter/${c}`;
    const res = await call('final-read', 'GET', enc(key));
    const acked = casLog.filter((x) => x.counter === key).map((x) => x.value);
    const distinct = new Set(acked);
    const ok =
      res.status === 200 && res.json.value === acked.length && res.json.version === acked.length + 1 && distinct.size === acked.length;
    counterChecks.push({ key, value: res.json?.value, version: res.json?.version, acknowledgedIncrements: acked.length, ok });
    if (!ok)
      violation(
        'lost',
        `counter ${key} = ${res.json?.value} (version ${res.json?.version}) after ${acked.length} acknowledged increments (${distinct.size} distinct)`,
      );
  }

  if (sampler !== undefined) clearInterval(sampler);
  let exit;
  if (server !== undefined) {
    rss.end = rssOf(server.child.pid);
    server.child.kill('SIGTERM');
    const timer = setTimeout(() => server.child.kill('SIGKILL'), 10_000);
    exit = await server.exited;
    clearTimeout(timer);
    if (exit.code !== 0) violation('unexpectedStatus', `kv_store exited with ${JSON.stringify(exit)} after SIGTERM: ${server.stderr()}`);
  }
  const seconds = (Date.now() - started) / 1000;
  const rssFlat = rss.warm === undefined || rss.maxAfterWarm <= rss.warm + RSS_SLACK_BYTES(rss.warm);
  if (!rssFlat) violation('unexpectedStatus', `RSS grew after warm-up: ${rss.warm} -> max ${rss.maxAfterWarm}`);

  const mib = (b) => (b === undefined ? 'n/a' : `${(b / 1_048_576).toFixed(1)} MiB`);
  const result = {
    durationS: Number(seconds.toFixed(1)),
    clients: CLIENTS,
    minWrites: MIN_WRITES,
    keys: models.length,
    counters: COUNTERS,
    ...counts,
    opsPerSecond: Math.round(counts.requests / seconds),
    maxRevision: maxRevisionSeen,
    counterChecks,
    rss: { start: rss.start, warm: rss.warm, maxAfterWarm: rss.maxAfterWarm, end: rss.end, flat: rssFlat },
    exit,
    violations,
  };
  console.log(
    `soak: ${counts.requests} requests in ${seconds.toFixed(1)} s (${result.opsPerSecond}/s) by ${CLIENTS} clients on ${models.length} keys + ${COUNTERS} counters`,
  );
  console.log(
    `soak: ${counts.ackedWrites} acknowledged writes (${counts.ttlWrites} with a TTL, ${counts.casIncrements} CAS increments, ${counts.casConflicts} CAS conflicts), ${counts.verifiedWrites} read back exactly; ${counts.ownerReads} owner reads, ${counts.foreignReads} cross-client reads, ${counts.expiriesSeen} expiries observed`,
  );
  console.log(
    `soak: lost ${counts.lost}, stale ${counts.stale}, phantom ${counts.phantom}, revision regressions ${counts.revisionRegressions}, unexpected ${counts.unexpectedStatus}, network errors ${counts.networkErrors}`,
  );
  if (server === undefined) console.log('soak: RSS not measured (--url: the server is not ours)');
  else {
    console.log(
      `soak: RSS start ${mib(rss.start)}, after warm-up (${(WARMUP_MS / 1000).toFixed(1)} s) ${mib(rss.warm)}, max after warm-up ${mib(rss.maxAfterWarm)}, end ${mib(rss.end)} (${rssFlat ? 'flat' : 'GREW'}); exit ${JSON.stringify(exit)}`,
    );
  }
  for (const v of violations.slice(0, 20)) console.log(`  violation: ${v}`);
  if (args.json) console.log(`SOAK_RESULT ${JSON.stringify(result)}`);
  process.exitCode = violations.length === 0 ? 0 : 1;
}

main().catch((err) => {
  console.error(`soak: ${err.stack ?? err}`);
  process.exitCode = 2;
});
