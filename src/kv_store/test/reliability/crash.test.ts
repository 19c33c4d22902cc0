import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { assertFreshBuild, REPO_ROOT } from './support/kv-process.js';

/**
 * The kill -9 harness (scripts/crash-harness.mjs; `make crash-soak` runs it long) against real
 * kv_store processes on real data directories, under KV_FSYNC=always and no at once:
 * CRASH_KILLS kill points each (50 by default). After every restart each acknowledged write is
 * there with its revision, nothing refused is, revisions never go back, TTLs hold across the
 * downtime. Snapshots are small and frequent there, so kills also land while one is written and
 * restarts recover from snapshot plus log. Under `no`, KV_WATCH_HISTORY is 8, so each restart
 * replays all but the newest 8 commits of its log by their bytes (MemoryStore.replayQuietly, as a
 * long log is replayed) and under `always` as commits (kv_store's default depth, 10,000, is more
 * than these logs hold). The run is bounded by the number of kills, not by time.
 */

const KILLS = Number(process.env.CRASH_KILLS ?? 50);

interface CrashResult {
  fsync: string;
  kills: number;
  acknowledgedWrites: number;
  refusedWrites: number;
  cutOffWrites: number;
  checkedAcknowledged: number;
  casIncrements: number;
  ttlWrites: number;
  lost: number;
  refusedPresent: number;
  wrong: number;
  revisionRegressions: number;
  unexpectedStatus: number;
  snapshotsWritten: number;
  recoveredFromSnapshot: number;
  logCommitsReplayed: number;
  ttlAcrossDowntime?: { expiredWhileDown: boolean; keptExpiry: boolean };
  violations: unknown[];
}

async function harness(fsync: 'always' | 'no', ...extra: string[]): Promise<CrashResult> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [join(REPO_ROOT, 'scripts', 'crash-harness.mjs'), '--kills', String(KILLS), '--fsync', fsync, ...extra, '--json'],
    { timeout: (KILLS * 10 + 120) * 1000, maxBuffer: 16 * 1_048_576 },
  ).catch((err: { stdout?: string; message: string }) => {
    // A violation makes the script exit 1; its report is still on stdout.
    if (err.stdout === undefined) throw err;
    return { stdout: err.stdout };
  });
  const lines = stdout.trim().split('\n');
  for (const line of lines) if (!line.startsWith('CRASH_RESULT ')) console.log(line);
  const last = lines.find((l) => l.startsWith('CRASH_RESULT '));
  expect(last, `the harness (KV_FSYNC=${fsync}) printed its result`).toBeDefined();
  return JSON.parse((last as string).slice('CRASH_RESULT '.length)) as CrashResult;
}

it(
  `kill -9 at ${KILLS} random moments under KV_FSYNC=always and under no: every acknowledged write survives, nothing refused appears, revisions never go back, TTLs hold`,
  async () => {
    await assertFreshBuild();
    const results = await Promise.all([harness('always'), harness('no', '--watch-history', '8')]);
    for (const r of results) {
      expect(r.violations, `KV_FSYNC=${r.fsync}`).toEqual([]);
      expect({
        lost: r.lost,
        refusedPresent: r.refusedPresent,
        wrong: r.wrong,
        revisionRegressions: r.revisionRegressions,
        unexpected: r.unexpectedStatus,
      }).toEqual({
        lost: 0,
        refusedPresent: 0,
        wrong: 0,
        revisionRegressions: 0,
        unexpected: 0,
      });
      // The kill points: KILLS rounds plus the one across a TTL's end.
      expect(r.kills).toBe(KILLS + 1);
      expect(r.acknowledgedWrites).toBeGreaterThanOrEqual(10 * KILLS);
      expect(r.checkedAcknowledged).toBeGreaterThan(0);
      expect(r.refusedWrites).toBeGreaterThan(0);
      expect(r.casIncrements).toBeGreaterThan(0);
      expect(r.ttlWrites).toBeGreaterThan(0);
      expect(r.ttlAcrossDowntime).toEqual({ expiredWhileDown: true, keptExpiry: true });
      // The harness's small KV_SNAPSHOT_EVERY_BYTES: kills land among snapshots, restarts read them.
      expect(r.snapshotsWritten).toBeGreaterThan(0);
      expect(r.recoveredFromSnapshot).toBeGreaterThan(0);
      expect(r.logCommitsReplayed).toBeGreaterThan(0);
    }
    // Kills landed mid-request: some writes were cut off.
    expect(results.reduce((n, r) => n + r.cutOffWrites, 0)).toBeGreaterThan(0);
  },
  (KILLS * 20 + 180) * 1000,
);
