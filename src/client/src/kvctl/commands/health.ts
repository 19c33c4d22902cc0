import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { table } from '../output.js';

export const health: Command = {
  name: 'health',
  synopsis: '',
  summary: 'is kv_store ready for traffic? (each check of /readyz)',
  description:
    "Asks kv_store's /readyz and prints whether it is ready and each check. Exits 0 when ready, 5 when it answers but is not ready (or cannot be reached), so `until kvctl health; do sleep 1; done` waits for it.",
  options: {},
  args: { min: 0, max: 0 },
  examples: ['kvctl health', 'kvctl health -o json'],
  async run({ client, url, out }) {
    const { ready, checks } = await client.readiness();
    out.result(
      () => {
        const rows = checks.map(({ name, ok, reason }) => [name, ok ? 'ok' : `failing: ${reason ?? ''}`] as const);
        return `${ready ? 'ready' : 'not ready'} (${url})${rows.length === 0 ? '' : `\n${indent(table(rows))}`}`;
      },
      { url, ready, checks },
    );
    return ready ? EXIT.ok : EXIT.unreachable;
  },
};

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
