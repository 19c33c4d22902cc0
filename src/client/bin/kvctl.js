#!/usr/bin/env node
// kvctl: kv_store from the shell (src/kvctl/main.ts). Build first: `make build` (or npm run build).
import { text } from 'node:stream/consumers';
import { kvctl } from '../dist/kvctl/main.js';

process.exitCode = await kvctl(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  readStdin: () => text(process.stdin),
});
