import type { JsonValue } from '@kv/client';
import type { Scenario } from '../run/scenario.js';

/**
 * A transaction is all or nothing: one whose last op fails leaves its earlier set, incr and
 * delete unapplied (GETs show it), and names the failed op; a failed check is named too; a
 * move (delete one key, create another, count it) puts every key it writes at one revision
 * and reaches a watcher as one revision's changes; ops see the ops before them (incr, then
 * get); an incr that fails after another leaves the counter as it was.
 */
export const testTxn: Scenario = {
  name: 'test_txn',
  description:
    "create a key holding a token under a fresh prefix; a transaction that sets a key, increments a counter, deletes the token's key, then fails on a replace of a missing key is refused (409 txn_failed naming ops[3]) and GETs show none of it applied (404, 404, the token unchanged); a failed check is named with expected and actual (409); a move (delete the token's key, create it elsewhere, incr the counter; checked on the revision) answers 200 and both keys and the counter show one revision, which a watch from before sees as one revision's changes; incr then get in one transaction (the get sees 3); an incr after which another fails leaves the counter at 3; clean up",
  async run(t) {
    const [source, destination, counter, extra, missing] = ['source', 'destination', 'counter', 'extra', 'missing'].map((n) =>
      t.keyUnder(n),
    ) as [string, string, string, string, string];
    const token: JsonValue = { test: t.test, runId: t.runId, token: 'the one token' };
    const path = (key: string) => `/v1/${encodeURIComponent(key)}`;
    const txn = (body: JsonValue) => ({ method: 'POST', path: '/txn', body });
    const notFound = { status: 404, shape: 'error', body: { 'error.code': 'key_not_found' } } as const;

    const created = await t.step(
      'create the key holding the token',
      { method: 'POST', path: '/v1/', body: { key: source, value: token } },
      { status: 201, shape: 'entry', body: { key: source, value: token, version: 1 } },
    );
    const r1 = (created.body as { revision: number }).revision;
    await t.step(
      'a transaction whose last op fails is refused, naming that op',
      txn({
        ops: [
          { op: 'set', key: extra, value: 'written by a failed transaction' },
          { op: 'incr', key: counter, by: 5 },
          { op: 'delete', key: source },
          { op: 'replace', key: missing, value: 'no such key' },
        ],
      }),
      {
        status: 409,
        shape: 'error',
        body: {
          'error.code': 'txn_failed',
          succeeded: false,
          'failures.*.type': ['op'],
          'failures.*.index': [3],
          'failures.0.key': missing,
          'failures.0.expected': { exists: true },
        },
      },
    );
    await t.step("GET shows the failed transaction's set did not happen", { method: 'GET', path: path(extra) }, notFound);
    await t.step("GET shows the failed transaction's incr did not happen", { method: 'GET', path: path(counter) }, notFound);
    await t.step(
      "GET shows the failed transaction's delete did not happen: the token is as it was",
      { method: 'GET', path: path(source) },
      { status: 200, shape: 'entry', headers: { etag: created.etag }, body: { key: source, value: token, version: 1 } },
    );
    await t.step(
      'a transaction whose check fails is refused, naming the check with expected and actual',
      txn({ checks: [{ key: source, version: 2 }], ops: [{ op: 'set', key: extra, value: 'never written' }] }),
      {
        status: 409,
        shape: 'error',
        body: {
          'error.code': 'txn_failed',
          'failures.*.type': ['check'],
          'failures.0.key': source,
          'failures.0.expected': { version: 2 },
          'failures.0.actual': { version: 1 },
        },
      },
    );
    const moved = await t.step(
      'move the token (delete it here, create it there, count the move) if it is still at its revision',
      txn({
        checks: [{ key: source, revision: r1 }],
        ops: [
          { op: 'delete', key: source },
          { op: 'create', key: destination, value: token },
          { op: 'incr', key: counter, by: 1 },
        ],
      }),
      {
        status: 200,
        body: { succeeded: true, 'results.0.deleted': 1, 'results.1.key': destination, 'results.1.value': token, 'results.2.value': 1 },
      },
    );
    const r2 = (moved.body as { revision: number }).revision;
    await t.step('GET shows the token gone from where it was', { method: 'GET', path: path(source) }, notFound);
    await t.step(
      "GET shows the token where it went, at the move's revision",
      { method: 'GET', path: path(destination) },
      { status: 200, shape: 'entry', body: { key: destination, value: token, version: 1, revision: r2 } },
    );
    await t.step(
      "GET shows the counter at 1, at the move's revision too",
      { method: 'GET', path: path(counter) },
      { status: 200, shape: 'entry', body: { key: counter, value: 1, version: 1, revision: r2 } },
    );
    await t.step(
      "a watch from before the move gets the move's three changes, all at its revision",
      { method: 'GET', path: `/v1/?watch=true&prefix=${encodeURIComponent(`${t.key}/`)}&after=${r1}&wait=0` },
      {
        status: 200,
        shape: 'changes',
        body: {
          'changes.*.key': [source, destination, counter],
          'changes.*.type': ['delete', 'put', 'put'],
          'changes.*.revision': [r2, r2, r2],
        },
      },
    );
    await t.step(
      'incr by 2, then get, in one transaction: the get sees the incr',
      txn({
        ops: [
          { op: 'incr', key: counter, by: 2 },
          { op: 'get', key: counter },
        ],
      }),
      { status: 200, body: { succeeded: true, 'results.*.value': [3, 3], 'results.*.key': [counter, counter] } },
    );
    await t.step(
      'a transaction that increments the counter, then fails to increment a value that is not a number, is refused',
      txn({
        ops: [
          { op: 'incr', key: counter, by: 1 },
          { op: 'incr', key: destination, by: 1 },
        ],
      }),
      { status: 409, shape: 'error', body: { 'error.code': 'txn_failed', 'failures.*.index': [1], 'failures.0.key': destination } },
    );
    await t.step(
      'GET shows the counter still at 3',
      { method: 'GET', path: path(counter) },
      { status: 200, shape: 'entry', body: { key: counter, value: 3, version: 2 } },
    );
  },
};
