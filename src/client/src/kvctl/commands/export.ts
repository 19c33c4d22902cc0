import type { Command } from '../command.js';
import { entryLine, exactEntries } from '../exact-entries.js';
import { EXIT } from '../exit-codes.js';

export const exportCommand: Command = {
  name: 'export',
  synopsis: '[PREFIX]',
  summary: 'write every entry (under PREFIX) as NDJSON, for backup and moving data (see import)',
  description:
    'Writes every key that starts with PREFIX (every key without it) to standard output, one JSON line per entry: {"key", "value", "expiresAt"}, with expiresAt absolute (null: never). All of it is the store at one revision (one listing, whatever is written meanwhile), which it names on standard error when done. Values keep their exact text (12345678901234567890 and 1.50 stay so); only a line break between a value\'s tokens becomes a space. Lines are written as the pages come: a failure part-way exits non-zero, so check the exit code before trusting the file. The same with -o json.',
  options: {},
  args: { min: 0, max: 1 },
  examples: ['kvctl export > backup.ndjson', 'kvctl export users/ | kvctl import --url http://127.0.0.1:8090'],
  async run({ client, args, out }) {
    let revision = 0;
    let count = 0;
    for await (const entry of exactEntries(client, args[0], (r) => (revision = r))) {
      out.print(entryLine(entry));
      count++;
    }
    out.note(`exported ${count} ${count === 1 ? 'entry' : 'entries'} at revision ${revision}`);
    return EXIT.ok;
  },
};
