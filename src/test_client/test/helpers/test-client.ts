import type { AddressInfo } from 'node:net';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import type { TestReport } from '../../src/run/report.js';

/** A test_client, in-process on a free port, whose log lines are kept for the test to read. */
export interface RunningTestClient {
  readonly url: string;
  /** Every JSON log line written so far. */
  readonly logs: string[];
  close(): Promise<void>;
}

/**
 * Starts test_client on port 0 against `kvStoreUrl`, logging everything (trace) into `logs`. Its
 * wait for each kv_store answer is 30 s (a hang guard; the default 2 s could run out on a busy
 * machine) unless `env` sets TEST_CLIENT_KV_TIMEOUT_MS.
 */
export async function startTestClient(kvStoreUrl: string, env: Record<string, string> = {}): Promise<RunningTestClient> {
  const config = loadConfig({ KV_STORE_URL: kvStoreUrl, TEST_CLIENT_LOG_LEVEL: 'trace', TEST_CLIENT_KV_TIMEOUT_MS: '30000', ...env });
  const logs: string[] = [];
  const logger = createLogger(config.logLevel, { write: (line: string) => logs.push(line) });
  const { server } = buildApp({ config, logger });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    logs,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** GETs a test endpoint and returns its HTTP status and JSON report. */
export async function runEndpoint(baseUrl: string, path: string): Promise<{ status: number; report: TestReport }> {
  const res = await fetch(`${baseUrl}${path}`);
  expectJson(res);
  return { status: res.status, report: (await res.json()) as TestReport };
}

function expectJson(res: Response): void {
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('application/json')) throw new Error(`expected a JSON answer, got '${type}'`);
}

/** The name of the first step that did not hold (clean-up aside), or undefined. */
export function firstFailedStep(report: TestReport): string | undefined {
  return report.steps.find((s) => !s.ok && s.cleanup !== true)?.name;
}
