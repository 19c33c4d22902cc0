import type { TestRun } from './test-run.js';

/** One test of kv_store: a name (also its endpoint, `/<name>`) and the steps it takes. */
export interface Scenario {
  /** e.g. `test_overwrite`. */
  readonly name: string;
  /** One sentence on what it checks. */
  readonly description: string;
  /** Takes the steps; a step that does not hold throws, and clean-up runs afterwards either way. */
  run(t: TestRun): Promise<void>;
}
