import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { entryJson, IF_MATCH_OPTION, ifMatchOption, TTL_OPTION, ttlOption, valueArgument } from './arguments.js';

export const put: Command = {
  name: 'put',
  synopsis: 'KEY VALUE_JSON',
  summary: 'overwrite a key that exists (optionally only at a given revision)',
  description:
    "Overwrites KEY with the JSON value VALUE_JSON ('-' reads it from standard input); its version goes up by one. A key that does not exist exits 2 (use create). With --if-match, only if the key is still at that revision: otherwise nothing changes and kvctl exits 3. Without --ttl, an expiry the key had is cleared.",
  options: { 'if-match': IF_MATCH_OPTION, ttl: TTL_OPTION },
  args: { min: 2, max: 2 },
  examples: [`kvctl put users/42 '{"name":"Ada Lovelace"}'`, `kvctl put users/42 '{"name":"Ada"}' --if-match 7`],
  async run(context) {
    const [key, text] = context.args as [string, string];
    const value = await valueArgument(context, 'put', text);
    const options = { ttl: ttlOption(context, 'put'), ifMatch: ifMatchOption(context, 'put') };
    const entry = entryJson(await context.client.replace(key, value, options));
    context.out.result(() => `updated ${entry.key} to version ${entry.version} at revision ${entry.revision}`, entry);
    return EXIT.ok;
  },
};
