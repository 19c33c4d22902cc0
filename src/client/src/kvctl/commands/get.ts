import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { entryJson, entryText } from './arguments.js';

export const get: Command = {
  name: 'get',
  synopsis: 'KEY',
  summary: "print a key's value (as JSON), version, revision and times",
  description:
    'Reads KEY and prints its value as JSON, with its version, revision and times. With -o json it prints the entry as kv_store answers it. A key that does not exist exits 2. --consistent asks for a linearizable read: with KV_BACKEND=etcd a node otherwise answers from its cache, which may lag writes made through other nodes by a moment.',
  options: {
    consistent: { type: 'boolean', description: 'a linearizable read: see every write acknowledged through any node' },
  },
  args: { min: 1, max: 1 },
  examples: ['kvctl get users/42', 'kvctl get users/42 -o json', 'kvctl get users/42 --consistent'],
  async run({ client, args, options, out }) {
    const entry = entryJson(await client.get(args[0] as string, { consistent: options.consistent === true || undefined }));
    out.result(() => entryText(entry), entry);
    return EXIT.ok;
  },
};
