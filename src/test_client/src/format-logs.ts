import { createInterface } from 'node:readline';
import { formatLogLine } from './log-format.js';

/** Reads test_client's JSON log lines on stdin and writes one readable line each (used by `make logs`). */
function main(): void {
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  lines.on('line', (line) => {
    process.stdout.write(`${formatLogLine(line)}\n`);
  });
  // A closed pipe (`make logs | head`) is a normal way to stop.
  process.stdout.on('error', () => process.exit(0));
}

main();
