import type { JsonValue } from '@kv/client';
import type { Expected } from './expectation.js';

/** How a test run ended: every step held, a check did not hold, or kv_store could not be used. */
export type TestStatus = 'passed' | 'failed' | 'error';

/** A request to kv_store as sent (Authorization is added by the client and never recorded). */
export interface StepRequest {
  readonly method: string;
  /** The path under the kv_store URL. */
  readonly path: string;
  readonly body?: JsonValue | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** What kv_store answered. */
export interface StepActual {
  /** Null when no answer came. */
  readonly status: number | null;
  /** The ETag and Location headers, when sent. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The JSON body; null when there was none. */
  readonly body: JsonValue | null;
  /** The start of a body that was not JSON. */
  readonly bodyText?: string;
  /** Why there was no usable answer. */
  readonly error?: string;
}

/** One request of a test, what it had to answer, what it answered and whether that held. */
export interface StepReport {
  readonly name: string;
  /** The clean-up step: recorded, never counted as a failure. */
  readonly cleanup?: true;
  readonly request: StepRequest;
  readonly expected: Expected;
  readonly actual: StepActual;
  readonly ok: boolean;
  /** Why it did not hold. */
  readonly problems?: readonly string[];
  readonly durationMs: number;
}

/** The answer of one test endpoint. */
export interface TestReport {
  readonly test: string;
  readonly status: TestStatus;
  readonly runId: string;
  /** The fresh key this run used. */
  readonly key: string;
  readonly durationMs: number;
  readonly kvStoreUrl: string;
  readonly steps: readonly StepReport[];
  readonly error?: string;
}

/** The HTTP status that answers a test outcome: 200 passed, 500 failed, 502 error. */
export function httpStatusOf(status: TestStatus): number {
  return status === 'passed' ? 200 : status === 'failed' ? 500 : 502;
}
