import type { Command } from './command.js';
import { create } from './commands/create.js';
import { get } from './commands/get.js';
import { health } from './commands/health.js';
import { put } from './commands/put.js';
import { rm } from './commands/rm.js';

/**
 * The command table: one row per command, in the order help lists them. `ls`, `watch`, `txn`,
 * `export` and `import` join it as the store gains listing, watch and transactions: a module in
 * commands/ and a row here (main.ts and the help need nothing more).
 */
export const COMMANDS: readonly Command[] = [get, create, put, rm, health];
