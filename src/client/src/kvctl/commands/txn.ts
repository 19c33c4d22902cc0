import { isJsonObject, type JsonValue } from '@kv/shared';
import { type TxnFailureDetail, TxnFailedError, type TxnOpResult } from '../../txn.js';
import type { Command } from '../command.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { columns } from '../output.js';
import { inputText } from './arguments.js';

export const txn: Command = {
  name: 'txn',
  synopsis: '[FILE]',
  summary: 'run a transaction (JSON from FILE or standard input): all of it or nothing',
  description:
    'Sends the transaction in FILE (standard input without FILE, or with -) to kv_store as written, so values keep their exact text: {"checks": [...], "ops": [...]}, as POST /txn takes it. When it is applied, prints its revision and each op\'s result (with -o json, kv_store\'s answer). When it is not, nothing changed: it prints every check and op that failed, with what it expected and what it found, on standard error, and exits 3. A transaction kv_store refuses as malformed exits 1, one over KV_MAX_TXN_OPS 6.',
  options: {},
  args: { min: 0, max: 1 },
  examples: [
    `kvctl txn move.json     # {"checks": [{"key": "a", "exists": true}], "ops": [{"op": "delete", "key": "a"}, {"op": "create", "key": "b", "value": 1}]}`,
    `kvctl txn <<< '{"ops": [{"op": "incr", "key": "stats/visits"}]}'`,
  ],
  async run(context) {
    const file = context.args[0];
    const text = await inputText(context, 'txn', file);
    const ops = opsOf(text, file);
    const { out } = context;
    try {
      const { revision, results } = await context.client.txnText(text);
      out.result(() => successText(revision, ops, results), { succeeded: true, revision, results });
      return EXIT.ok;
    } catch (err) {
      if (!(err instanceof TxnFailedError)) throw err;
      const { status, code, message, revision, failures } = err;
      out.error(`${message} (${status} ${code})`, { status, code, message, succeeded: false, revision, failures });
      out.note(failureLines(failures));
      return EXIT.conflict;
    }
  },
};

/** The ops of the transaction, to label their results; the text must be a JSON object (kv_store checks the rest). */
function opsOf(text: string, file: string | undefined): JsonValue[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    const where = file === undefined || file === '-' ? 'standard input' : `'${file}'`;
    throw new UsageError(`the transaction in ${where} is not JSON (${err instanceof Error ? err.message : String(err)})`, 'txn');
  }
  if (!isJsonObject(parsed)) throw new UsageError('the transaction must be a JSON object: {"checks": [...], "ops": [...]}', 'txn');
  return Array.isArray(parsed.ops) ? parsed.ops : [];
}

/** `applied at revision R`, then one row per op: `ops[i]  op key  result`. */
function successText(revision: number, ops: readonly JsonValue[], results: readonly TxnOpResult[]): string {
  const rows = results.map((result, i) => {
    const op = ops[i];
    const kind = isJsonObject(op) && typeof op.op === 'string' ? op.op : '?';
    const target = isJsonObject(op) ? (typeof op.key === 'string' ? op.key : typeof op.prefix === 'string' ? op.prefix : '') : '';
    return [`ops[${i}]`, kind, target, resultText(result)];
  });
  return [`applied at revision ${revision}`, ...(rows.length === 0 ? [] : [indent(columns(rows))])].join('\n');
}

function resultText(result: TxnOpResult): string {
  if (result === null) return '(no such key)';
  if ('deleted' in result) return `deleted ${result.deleted}`;
  return `${JSON.stringify(result.value)}  (version ${result.version}, revision ${result.revision})`;
}

/** One line per failed check or op: where, which key, expected and actual. */
function failureLines(failures: readonly TxnFailureDetail[]): string {
  const rows = failures.map((f) => [
    `${f.type === 'check' ? 'checks' : 'ops'}[${f.index}]`,
    f.key,
    `expected ${JSON.stringify(f.expected)}, actual ${JSON.stringify(f.actual)}`,
  ]);
  return indent(columns(rows));
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
