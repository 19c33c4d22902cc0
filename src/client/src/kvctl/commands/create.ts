import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { entryJson, TTL_OPTION, ttlOption, valueArgument } from './arguments.js';

export const create: Command = {
  name: 'create',
  synopsis: 'KEY VALUE_JSON',
  summary: 'create a key that does not exist yet',
  description:
    "Creates KEY with the JSON value VALUE_JSON ('-' reads it from standard input). A key that already exists is left as it is, and kvctl exits 3: use put to overwrite it. A value that starts with '-' goes after '--'.",
  options: { ttl: TTL_OPTION },
  args: { min: 2, max: 2 },
  examples: [`kvctl create users/42 '{"name":"Ada","langs":["en","fr"]}'`, `kvctl create session/9f '"token"' --ttl 3600`],
  async run(context) {
    const [key, text] = context.args as [string, string];
    const value = await valueArgument(context, 'create', text);
    const entry = entryJson(await context.client.create(key, value, { ttl: ttlOption(context, 'create') }));
    const expiry = entry.expiresAt === null ? '' : `, expires ${entry.expiresAt}`;
    context.out.result(() => `created ${entry.key} at revision ${entry.revision}${expiry}`, entry);
    return EXIT.ok;
  },
};
