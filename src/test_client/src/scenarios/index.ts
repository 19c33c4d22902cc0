import type { Scenario } from '../run/scenario.js';
import { testDelete } from './test-delete.js';
import { testList } from './test-list.js';
import { testOverwrite } from './test-overwrite.js';
import { testTxn } from './test-txn.js';
import { testWatch } from './test-watch.js';

/** Every test, in the order /test_all runs them; each is served at `/<name>`. */
export const SCENARIOS: readonly Scenario[] = [testOverwrite, testDelete, testList, testWatch, testTxn];
