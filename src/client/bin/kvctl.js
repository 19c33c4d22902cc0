#!/usr/bin/env node
// kvctl: kv_store from the shell (src/kvctl/main.ts). Build first: `make build` (or npm run build).
import { text } from 'node:stream/consumers';
import { kvctl } from '../dist/kvctl/main.js';

// A reader that stops reading (`kvctl watch | head -3`) ends kvctl quietly, as a signal does.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

process.exitCode = await kvctl(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  readStdin: () => text(process.stdin),
  stopSignal: () => {
    const controller = new AbortController();
    // Once: a second Ctrl-C kills at once, should stopping hang.
    process.once('SIGINT', () => controller.abort());
    process.once('SIGTERM', () => controller.abort());
    return controller.signal;
  },
});
