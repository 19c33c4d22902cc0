import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { entryJson, entryText } from './arguments.js';

export const get: Command = {
  name: 'get',
  synopsis: 'KEY',
  summary: "print a key's value (as JSON), version, revision and times",
  description:
    'Reads KEY and prints its value as JSON, with its version, revision and times. With -o json it prints the entry as kv_store answers it. A key that does not exist exits 2.',
  options: {},
  args: { min: 1, max: 1 },
  examples: ['kvctl get users/42', 'kvctl get users/42 -o json'],
  async run({ client, args, out }) {
    const entry = entryJson(await client.get(args[0] as string));
    out.result(() => entryText(entry), entry);
    return EXIT.ok;
  },
};
