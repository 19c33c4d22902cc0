import { randomUUID } from 'node:crypto';
import { type KvClient, KvUnreachableError } from '@kv/client';
import type { Logger } from '../logger.js';
import type { TestReport, TestStatus } from './report.js';
import type { Scenario } from './scenario.js';
import { StepFailed } from './step-failed.js';
import { TestRun } from './test-run.js';

/** What a test run needs: the client for kv_store and where to log. */
export interface RunDeps {
  readonly client: KvClient;
  readonly logger: Logger;
}

/**
 * Runs one scenario on a fresh key (`test_client/<runId>/<name>`), cleans up whatever happened,
 * and reports every step. Never throws: a failed check is `failed`, no usable answer is `error`.
 */
export async function runTest(scenario: Scenario, deps: RunDeps): Promise<TestReport> {
  const runId = randomUUID();
  const key = `test_client/${runId}/${scenario.name.replace(/^test_/, '')}`;
  const t = new TestRun(scenario.name, runId, key, deps.client, deps.logger);
  const started = performance.now();
  let status: TestStatus = 'passed';
  let error: string | undefined;
  try {
    await scenario.run(t);
  } catch (err) {
    if (err instanceof StepFailed) {
      status = 'failed';
      error = err.message;
    } else if (err instanceof KvUnreachableError) {
      status = 'error';
      error = err.message;
    } else {
      status = 'error';
      error = `test_client could not run the test: ${err instanceof Error ? err.message : String(err)}`;
      deps.logger.error({ err, runId, test: scenario.name }, 'test crashed');
    }
  } finally {
    await t.cleanup();
  }
  const durationMs = Math.round(performance.now() - started);
  const line = { runId, test: scenario.name, status, durationMs };
  if (status === 'passed') deps.logger.info(line, 'test result');
  else if (status === 'failed') deps.logger.warn({ ...line, error }, 'test result');
  else deps.logger.error({ ...line, error }, 'test result');
  return {
    test: scenario.name,
    status,
    runId,
    key,
    durationMs,
    kvStoreUrl: deps.client.baseUrl,
    steps: t.steps,
    ...(error === undefined ? {} : { error }),
  };
}
