import { KvError } from '../../kv-error.js';
import { KvHistoryCompactedError } from '../../watching.js';
import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { wholeNumberOption } from './arguments.js';

export const watch: Command = {
  name: 'watch',
  synopsis: '[PREFIX]',
  summary: 'print every change under PREFIX as it happens, one JSON line per change, until stopped',
  description:
    'Follows every change to the keys that start with PREFIX (every key without it) and prints one JSON line per change, in revision order: {"type": "put"|"delete", "key", "revision", ...}, with the value of a put; the changes of one transaction share a revision. Without --after it starts now; with --after REVISION it first prints every change after that revision (a listing\'s revision, from \'kvctl ls -o json\', or the last one printed), so nothing is missed and nothing comes twice. A dropped connection is made again by itself, from the last revision printed. Runs until Ctrl-C (SIGINT) or SIGTERM, then exits 0. When the store no longer holds the changes after REVISION (its history is bounded, or it restarted), it says so and exits 7: list again and watch from the listing\'s revision. Output is the same with -o json.',
  options: {
    after: { type: 'string', value: 'REVISION', description: 'print the changes after this revision first (default: from now on)' },
  },
  args: { min: 0, max: 1 },
  examples: ['kvctl watch users/', 'kvctl watch users/ --after 17', 'kvctl watch | jq -c \'select(.type == "delete")\''],
  async run(context) {
    const prefix = context.args[0];
    const after = wholeNumberOption(context, 'watch', 'after', 0);
    const signal = context.stopSignal();
    try {
      for await (const event of context.client.watch({ prefix, after, signal })) {
        for (const change of event.changes) context.out.print(JSON.stringify(change));
      }
    } catch (err) {
      if (!(err instanceof KvHistoryCompactedError)) throw err;
      throw compacted(err);
    }
    return EXIT.ok;
  },
};

/** The client's history_compacted, as what to do from the shell. */
function compacted(err: KvHistoryCompactedError): KvError {
  const why =
    err.oldestRevision === undefined
      ? `the store's history was lost (it restarted), so the changes after revision ${err.after} cannot be told`
      : `the store no longer holds every change after revision ${err.after} (the oldest it holds is ${err.oldestRevision})`;
  return new KvError(
    410,
    'history_compacted',
    `${why}; list again with 'kvctl ls -o json' and watch with --after <its revision>`,
    err.oldestRevision === undefined ? { after: err.after } : { after: err.after, oldestRevision: err.oldestRevision },
  );
}
