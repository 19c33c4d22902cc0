import { type JsonValue, type KvClient, KvUnreachableError, keyPath, parseJsonBody, type RawResponse } from '@kv/client';
import type { Logger } from '../logger.js';
import { type Expected, mismatches } from './expectation.js';
import type { StepActual, StepReport, StepRequest } from './report.js';
import { StepFailed } from './step-failed.js';

/** A step's answer, for the steps after it (e.g. an ETag to send back). */
export interface StepResult {
  readonly status: number;
  readonly body: JsonValue | undefined;
  /** The ETag header; empty when none was sent (a step expecting an entry fails without one). */
  readonly etag: string;
}

/** Response headers worth recording with a step. */
const RECORDED_HEADERS = ['etag', 'location'] as const;

/** One run of one test: its fresh key, the steps taken so far, and the log lines of its calls. */
export class TestRun {
  readonly steps: StepReport[] = [];
  /** The key's path, `/v1/<key percent-encoded>`. */
  readonly path: string;

  constructor(
    readonly test: string,
    readonly runId: string,
    readonly key: string,
    private readonly client: KvClient,
    private readonly logger: Logger,
  ) {
    this.path = keyPath(key);
  }

  /** Sends `request` and checks the answer; throws StepFailed when it does not hold, KvUnreachableError when none came. */
  async step(name: string, request: StepRequest, expected: Expected): Promise<StepResult> {
    const report = await this.send(name, request, expected, false);
    if (!report.ok) throw new StepFailed(name, report.problems ?? []);
    return {
      status: report.actual.status ?? 0,
      body: report.actual.body ?? undefined,
      etag: report.actual.headers?.etag ?? '',
    };
  }

  /** Deletes the run's key (204, or 404 when it is already gone); recorded as a step, never throws. */
  async cleanup(): Promise<void> {
    try {
      await this.send('clean up: delete the key', { method: 'DELETE', path: this.path }, { status: [204, 404] }, true);
    } catch {
      // Recorded in the step already; a failed clean-up must not hide the test's own outcome.
    }
  }

  private async send(name: string, request: StepRequest, expected: Expected, cleanup: boolean): Promise<StepReport> {
    const started = performance.now();
    let response: RawResponse | undefined;
    try {
      response = await this.client.request(request);
      const body = parseJsonBody(response, request.method);
      const observed = { status: response.status, headers: response.headers, body };
      const problems = mismatches(expected, observed);
      this.logCall(request, response.url, response.status, response.durationMs);
      if (problems.length > 0) this.logger.warn({ runId: this.runId, test: this.test, step: name, problems }, 'step did not hold');
      return this.record(name, request, expected, cleanup, started, actualOf(response, body), problems);
    } catch (err) {
      if (!(err instanceof KvUnreachableError)) throw err;
      const status = response?.status ?? null;
      this.logCall(request, err.url, status, Math.round(performance.now() - started), err.message);
      const actual: StepActual = {
        status,
        body: null,
        ...(response === undefined ? {} : { bodyText: response.text.slice(0, 200) }),
        error: err.message,
      };
      this.record(name, request, expected, cleanup, started, actual, [err.message]);
      throw err;
    }
  }

  private record(
    name: string,
    request: StepRequest,
    expected: Expected,
    cleanup: boolean,
    started: number,
    actual: StepActual,
    problems: readonly string[],
  ): StepReport {
    const report: StepReport = {
      name,
      ...(cleanup ? { cleanup: true as const } : {}),
      request,
      expected,
      actual,
      ok: problems.length === 0,
      ...(problems.length > 0 ? { problems } : {}),
      durationMs: Math.round(performance.now() - started),
    };
    this.steps.push(report);
    return report;
  }

  private logCall(request: StepRequest, url: string, status: number | null, durationMs: number, error?: string): void {
    const line = { runId: this.runId, test: this.test, method: request.method, url, status, durationMs };
    if (error === undefined) this.logger.info(line, 'kv_store call');
    else this.logger.warn({ ...line, error }, 'kv_store call failed');
  }
}

function actualOf(response: RawResponse, body: JsonValue | undefined): StepActual {
  const headers: Record<string, string> = {};
  for (const name of RECORDED_HEADERS) {
    const value = response.headers[name];
    if (value !== undefined) headers[name] = value;
  }
  return {
    status: response.status,
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    body: body ?? null,
  };
}
