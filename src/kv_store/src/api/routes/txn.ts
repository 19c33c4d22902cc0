import type { TxnFailure, TxnOp, TxnOutcome, TxnResult } from '../../store/txn.js';
import { entryJson, jsonAnswer } from '../answers.js';
import { forbidden } from '../auth.js';
import type { ApiContext } from '../context.js';
import type { Answer } from '../door.js';
import { HttpError, isAnswerable } from '../errors.js';
import type { Route } from '../router.js';
import { parseTxnBody } from '../txn-body.js';

/** Ops a read-only token may run. */
const READS = new Set<TxnOp['op']>(['get']);

/** `/txn`: several keys changed together or not at all (list-watch-txn.md, "Transactions"). */
export function txnRoutes({ store, config, metrics }: ApiContext): Route[] {
  const txn = store.txn?.bind(store);
  if (txn === undefined) return [];
  const limits = { maxKeyBytes: config.maxKeyBytes, maxValueBytes: config.maxValueBytes, maxOps: config.maxTxnOps };
  return [
    {
      method: 'POST',
      path: '/txn',
      // A read token may run checks and gets; what the ops are is known only from the body.
      access: 'read',
      json: true,
      revisioned: true,
      handle(request) {
        // Counted here, not as the door counts a write route's refusals: the route is a read
        // route (for check-and-get), and a failed transaction is an answer, not an error.
        let writes = true;
        const refused = (err: unknown): never => {
          metrics.txn('rejected');
          if (writes && isAnswerable(err)) metrics.rejectedWrite(err instanceof HttpError ? err.code : err.reason);
          throw err;
        };
        const counted = (outcome: TxnOutcome): Answer => {
          metrics.txn(outcome.succeeded ? 'succeeded' : 'failed');
          if (!outcome.succeeded && writes) metrics.rejectedWrite('txn_failed');
          return outcomeAnswer(outcome);
        };
        try {
          const body = parseTxnBody(request.body, limits);
          writes = body.ops.some((op) => !READS.has(op.op));
          if (request.granted !== 'write' && writes) throw forbidden();
          const outcome = txn(body);
          return outcome instanceof Promise ? outcome.then(counted, refused) : counted(outcome);
        } catch (err) {
          return refused(err);
        }
      },
    },
  ];
}

function resultJson(result: TxnResult): string {
  if (result === null) return 'null';
  return 'key' in result ? entryJson(result) : JSON.stringify(result);
}

/** 200 with every result, or 409 txn_failed naming every failed check and op. */
export function outcomeAnswer(outcome: TxnOutcome): Answer {
  if (outcome.succeeded) {
    return jsonAnswer(200, `{"succeeded":true,"revision":${outcome.revision},"results":[${outcome.results.map(resultJson).join(',')}]}`);
  }
  const error = new HttpError('txn_failed', failedMessage(outcome.failures));
  const failures = JSON.stringify(outcome.failures);
  return jsonAnswer(
    error.status,
    `{"error":${JSON.stringify({ code: error.code, message: error.message })},"succeeded":false,"revision":${outcome.revision},"failures":${failures}}`,
  );
}

function failedMessage(failures: readonly TxnFailure[]): string {
  const named = failures.map((f) => `${f.type === 'check' ? 'checks' : 'ops'}[${f.index}] (${f.key})`);
  return `the transaction was not applied: ${failures.length === 1 ? 'this failed' : `${failures.length} failed`}: ${named.join(', ')}`;
}
