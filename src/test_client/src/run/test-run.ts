import { type JsonValue, type KvClient, KvUnreachableError, keyPath, parseJsonBody, type RawResponse } from '@kv/client';
import { WatchStream } from './watch-stream.js';
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
  /** Keys besides the run's own that clean-up deletes. */
  private readonly extraKeys: string[] = [];
  private readonly streams: WatchStream[] = [];
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

  /** A key under the run's own (`<key>/<name>`) that clean-up deletes too. */
  keyUnder(name: string): string {
    const key = `${this.key}/${name}`;
    this.extraKeys.push(key);
    return key;
  }

  /**
   * Opens a watch stream (SSE or NDJSON, by the request's Accept header) and checks its answer's
   * status and headers; the stream goes on collecting events until `events` reads them.
   */
  async openWatch(name: string, request: StepRequest, expected: Expected): Promise<WatchStream> {
    const started = performance.now();
    const stream = new WatchStream(this.client, request);
    this.streams.push(stream);
    let head: Awaited<ReturnType<WatchStream['open']>>;
    try {
      head = await stream.open();
    } catch (err) {
      if (!(err instanceof KvUnreachableError)) throw err;
      this.record(name, request, expected, false, started, { status: null, body: null, error: err.message }, [err.message]);
      throw err;
    }
    this.logCall(request, head.url, head.status, Math.round(performance.now() - started));
    const observed = { status: head.status, headers: head.headers, body: head.body };
    const problems = mismatches(expected, observed);
    const contentType = head.headers['content-type'];
    this.record(
      name,
      request,
      expected,
      false,
      started,
      { status: head.status, ...(contentType === undefined ? {} : { headers: { 'content-type': contentType } }), body: head.body ?? null },
      problems,
    );
    if (problems.length > 0) {
      stream.close();
      throw new StepFailed(name, problems);
    }
    return stream;
  }

  /**
   * Waits until `stream` has delivered `count` change events (at most `deadlineMs`, a hang
   * guard), ends it, and checks them as a body `{"events": [{"event", "id", "data"}...]}`.
   */
  async events(name: string, stream: WatchStream, count: number, expected: Expected, deadlineMs = 5000): Promise<void> {
    const started = performance.now();
    const changes = await stream.changes(count, deadlineMs);
    stream.close();
    const body = { events: changes } as unknown as JsonValue;
    const problems = mismatches(expected, { status: 200, headers: {}, body });
    if (changes.length !== count) problems.unshift(`expected ${count} change events within ${deadlineMs} ms, got ${changes.length}`);
    this.record(name, stream.request, expected, false, started, { status: 200, body }, problems);
    if (problems.length > 0) throw new StepFailed(name, problems);
  }

  /** Deletes the run's keys (204, or 404 when one is already gone), each recorded as a step; never throws. */
  async cleanup(): Promise<void> {
    for (const stream of this.streams) stream.close();
    for (const key of [this.key, ...this.extraKeys]) {
      try {
        await this.send('clean up: delete the key', { method: 'DELETE', path: keyPath(key) }, { status: [204, 404] }, true);
      } catch {
        // Recorded in the step already; a failed clean-up must not hide the test's own outcome.
      }
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
