import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { type DestinationStream, pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { Entry } from '../../src/store/store.js';
import { handlerResponseProblem, isNodeParserAnswer } from './support/contract.js';
import { brokenRequest, closingRequest, FUZZ_LIMITS, type FuzzRequest, framedRequest, SMUGGLED_KEY, showBytes } from './support/hostile.js';
import { RawConnection, type RawResponse } from './support/raw-http.js';
import { type Sentinels, seedSentinels, sentinelChanges } from './support/sentinels.js';

/**
 * Hostile-input fuzzing over real TCP: fast-check generates raw HTTP requests, pipelined over a
 * few keep-alive sockets to an in-process kv_store on port 0 (in-process so that the store itself
 * can be checked after every batch). Every answer must be a 4xx/2xx from kv_store with the
 * contract's body, or Node's own 4xx / a closed connection for broken HTTP; never a 5xx. After
 * every batch the sentinel keys must be exactly as seeded (an equal entry in the store: same value,
 * version, revision and times).
 */

const TARGET_REQUESTS = 100_000;
const LANES = 4;
const PER_LANE = 125;
const RUNS = Math.ceil(TARGET_REQUESTS / (LANES * PER_LANE));
const TIME_LIMIT_MS = 240_000;
/** Hang guards: how long a lane waits for its batch's answers, and a tail for an answer or a close. */
const LANE_GUARD_MS = 60_000;
const TAIL_GUARD_MS = 20_000;

let app: App;
/** The app's store: the memory engine, whose reads answer at once. */
let store: MemoryStore;
let port: number;
let baseUrl: string;
let sentinels: Sentinels;
let snapshot: Map<string, Entry>;
const errorLogs: string[] = [];

const counts = { framed: 0, closing: 0, broken: 0, answered: 0, closedUnanswered: 0, fiveXX: 0 };
const statuses = new Map<number, number>();

beforeAll(async () => {
  const config = loadConfig({
    KV_LOG_LEVEL: 'warn',
    KV_MAX_KEY_BYTES: String(FUZZ_LIMITS.maxKeyBytes),
    KV_MAX_VALUE_BYTES: String(FUZZ_LIMITS.maxValueBytes),
  });
  // Anything kv_store logs at warn or above (e.g. "request failed" before a 500) is kept and must stay empty.
  const sink: DestinationStream = { write: (line: string) => void errorLogs.push(line) };
  store = new MemoryStore({ limits: { maxKeys: config.maxKeys, maxMemoryBytes: config.maxMemoryBytes } });
  app = buildApp({ config, logger: pino({ level: 'warn' }, sink), store });
  await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
  port = (app.server.address() as AddressInfo).port;
  baseUrl = `http://127.0.0.1:${port}`;
  sentinels = await seedSentinels(baseUrl);
  snapshot = new Map(sentinels.keys.map((k) => [k, store.get(k) as Entry]));
});

afterAll(async () => {
  app?.close();
  app?.server.closeAllConnections();
  await new Promise<void>((resolve) => (app === undefined ? resolve() : app.server.close(() => resolve())));
});

function tally(res: RawResponse): void {
  counts.answered++;
  statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  if (res.status >= 500) counts.fiveXX++;
}

/** What is wrong with the answer to one hostile request, or undefined. */
function problem(req: FuzzRequest, res: RawResponse | undefined): string | undefined {
  const p = answerProblem(req, res);
  return p === undefined ? undefined : `${p}\n  request: ${showBytes(req)}`;
}

function answerProblem(req: FuzzRequest, res: RawResponse | undefined): string | undefined {
  if (res === undefined) return req.kind === 'framed' ? `${req.label}: no answer on a keep-alive connection` : undefined;
  if (res.status >= 500) return `${req.label}: ${res.status} ${res.body.toString('utf8').slice(0, 300)}`;
  if (req.kind !== 'framed' && isNodeParserAnswer(res)) return undefined;
  if (req.kind === 'framed' && isNodeParserAnswer(res) && res.status !== 417) {
    return `${req.label}: Node's parser refused a well-framed request (${res.status}); the generator is wrong`;
  }
  const p = handlerResponseProblem(res, req.method);
  return p === undefined ? undefined : `${req.label}: ${p}`;
}

const lanes: Array<RawConnection | undefined> = Array.from({ length: LANES }, () => undefined);

async function runLane(i: number, framed: readonly FuzzRequest[], tail: FuzzRequest | null): Promise<string[]> {
  const problems: string[] = [];
  let conn = lanes[i];
  if (conn === undefined || conn.closed) {
    conn = await RawConnection.open(port);
    lanes[i] = conn;
  }
  const result = await conn.exchange(framed, LANE_GUARD_MS);
  counts.framed += framed.length;
  if (conn.garbage !== undefined) problems.push(`lane ${i}: unparseable response: ${conn.garbage}`);
  if (result.timedOut)
    problems.push(`lane ${i}: ${framed.length - result.responses.length} answers missing after ${LANE_GUARD_MS / 1000} s`);
  for (const [j, req] of framed.entries()) {
    const res = result.responses[j];
    if (res !== undefined) tally(res);
    const p = problem(req, res);
    if (p !== undefined) problems.push(p);
  }
  if (tail !== null && !conn.closed) {
    // Broken HTTP may be incomplete; closing our side makes the server decide now.
    const last = await conn.exchange([tail], TAIL_GUARD_MS, tail.kind === 'broken');
    counts[tail.kind]++;
    const res = last.responses[0];
    if (res === undefined) {
      if (last.timedOut) problems.push(`${tail.label}: neither an answer nor a close within ${TAIL_GUARD_MS / 1000} s`);
      else counts.closedUnanswered++;
    } else {
      tally(res);
    }
    const p = problem(tail, res);
    if (p !== undefined) problems.push(p);
  }
  if (tail !== null) {
    // The server may still expect body bytes of a refused request: never reuse this socket.
    conn.destroy();
    lanes[i] = undefined;
  }
  return problems;
}

function sentinelProblems(): string[] {
  const out: string[] = [];
  for (const [key, entry] of snapshot) {
    if (!isDeepStrictEqual(store.get(key), entry)) out.push(`sentinel '${key}' changed: ${JSON.stringify(store.get(key))}`);
  }
  if (store.get(SMUGGLED_KEY) !== undefined) out.push(`a smuggled request ran: key '${SMUGGLED_KEY}' exists`);
  if ((Object.prototype as Record<string, unknown>).polluted !== undefined) out.push('Object.prototype was polluted');
  return out;
}

describe('hostile input, fuzzed over real sockets', () => {
  it(`answers ${TARGET_REQUESTS}+ generated requests with no 5xx and no change to any other key`, async () => {
    const started = Date.now();
    let batches = 0;
    const batch = fc.tuple(
      fc.array(fc.array(framedRequest, { minLength: PER_LANE, maxLength: PER_LANE }), { minLength: LANES, maxLength: LANES }),
      fc.array(fc.option(fc.oneof(closingRequest, brokenRequest), { nil: null, freq: 2 }), { minLength: LANES, maxLength: LANES }),
    );
    await fc.assert(
      fc.asyncProperty(batch, async ([framed, tails]) => {
        const problems = (await Promise.all(framed.map((reqs, i) => runLane(i, reqs, tails[i] ?? null)))).flat();
        problems.push(...sentinelProblems());
        batches++;
        // Over the wire too, now and then: the API must agree with the store.
        if (batches % 25 === 0) problems.push(...(await sentinelChanges(baseUrl, sentinels)));
        if (problems.length > 0) throw new Error(`${problems.length} problem(s):\n${problems.slice(0, 20).join('\n')}`);
      }),
      { numRuns: RUNS, plugins: [fc.interruptAfterTimeLimit(TIME_LIMIT_MS, { failOnInterrupt: true })] },
    );
    for (const conn of lanes) conn?.destroy();

    const total = counts.framed + counts.closing + counts.broken;
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const histogram = [...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}:${n}`);
    console.log(
      `fuzz: ${total} requests, ${counts.fiveXX} 5xx (${counts.framed} well-framed, ${counts.closing} over the body limit, ${counts.broken} broken HTTP; ${counts.closedUnanswered} closed without an answer) in ${seconds} s; statuses ${histogram.join(' ')}`,
    );

    expect(counts.fiveXX).toBe(0);
    expect(total).toBeGreaterThanOrEqual(TARGET_REQUESTS);
    expect(sentinelProblems()).toEqual([]);
    expect(await sentinelChanges(baseUrl, sentinels)).toEqual([]);
    expect(errorLogs).toEqual([]);
    const health = await fetch(`${baseUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
  }, 300_000);
});
