import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { assertFreshBuild, REPO_ROOT } from './support/kv-process.js';

/**
 * The soak (scripts/soak.mjs) for SOAK_DURATION_S seconds (30 by default) against a real
 * kv_store process: no acknowledged write lost, no stale read after an acknowledged write,
 * revisions only grow, contested CAS counters exact, RSS flat after warm-up, exit 0 on SIGTERM.
 * The run goes on past its duration until MIN_WRITES writes are acknowledged, so how much it
 * checks does not depend on how fast the machine is (the script stops 120 s past the duration).
 */

const DURATION_S = Number(process.env.SOAK_DURATION_S ?? 30);
const MIN_WRITES = 100 * DURATION_S;

interface SoakResult {
  requests: number;
  ackedWrites: number;
  verifiedWrites: number;
  ownerReads: number;
  foreignReads: number;
  casIncrements: number;
  ttlWrites: number;
  lost: number;
  stale: number;
  phantom: number;
  revisionRegressions: number;
  unexpectedStatus: number;
  networkErrors: number;
  counterChecks: Array<{ ok: boolean }>;
  rss: { warm?: number; maxAfterWarm: number; flat: boolean };
  exit?: { code: number | null; signal: string | null };
  violations: string[];
}

it(
  `soak: ${DURATION_S} s of concurrent creates, overwrites, If-Match writes, deletes and TTL writes lose nothing`,
  async () => {
    await assertFreshBuild();
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(REPO_ROOT, 'scripts', 'soak.mjs'), '--duration', String(DURATION_S), '--min-writes', String(MIN_WRITES), '--json'],
      {
        timeout: (DURATION_S + 180) * 1000,
        maxBuffer: 16 * 1_048_576,
      },
    ).catch((err: { stdout?: string; message: string }) => {
      // A violation makes the script exit 1; its report is still on stdout.
      if (err.stdout === undefined) throw err;
      return { stdout: err.stdout };
    });
    const lines = stdout.trim().split('\n');
    for (const line of lines) if (!line.startsWith('SOAK_RESULT ')) console.log(line);
    const last = lines.find((l) => l.startsWith('SOAK_RESULT '));
    expect(last, 'the soak printed its result').toBeDefined();
    const r = JSON.parse((last as string).slice('SOAK_RESULT '.length)) as SoakResult;
    expect(r.violations).toEqual([]);
    expect({ lost: r.lost, stale: r.stale, phantom: r.phantom, revisionRegressions: r.revisionRegressions }).toEqual({
      lost: 0,
      stale: 0,
      phantom: 0,
      revisionRegressions: 0,
    });
    expect(r.unexpectedStatus).toBe(0);
    expect(r.networkErrors).toBe(0);
    expect(r.ackedWrites).toBeGreaterThanOrEqual(MIN_WRITES);
    expect(r.verifiedWrites).toBeGreaterThan(10 * DURATION_S);
    expect(r.ttlWrites).toBeGreaterThan(0);
    expect(r.casIncrements).toBeGreaterThan(0);
    expect(r.counterChecks.every((c) => c.ok)).toBe(true);
    expect(r.rss.flat).toBe(true);
    expect(r.exit).toEqual({ code: 0, signal: null });
  },
  (DURATION_S + 240) * 1000,
);
