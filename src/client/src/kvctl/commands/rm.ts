import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { IF_MATCH_OPTION, ifMatchOption } from './arguments.js';

export const rm: Command = {
  name: 'rm',
  synopsis: 'KEY',
  summary: 'delete a key (optionally only at a given revision)',
  description:
    'Deletes KEY. A key that does not exist exits 2. With --if-match, only if the key is still at that revision: otherwise nothing changes and kvctl exits 3.',
  options: { 'if-match': IF_MATCH_OPTION },
  args: { min: 1, max: 1 },
  examples: ['kvctl rm users/42', 'kvctl rm users/42 --if-match 8'],
  async run(context) {
    const key = context.args[0] as string;
    await context.client.delete(key, { ifMatch: ifMatchOption(context, 'rm') });
    context.out.result(() => `deleted ${key}`, { key, deleted: true });
    return EXIT.ok;
  },
};
