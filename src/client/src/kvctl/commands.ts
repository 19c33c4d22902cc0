import type { Command } from './command.js';
import { create } from './commands/create.js';
import { exportCommand } from './commands/export.js';
import { get } from './commands/get.js';
import { health } from './commands/health.js';
import { importCommand } from './commands/import.js';
import { ls } from './commands/ls.js';
import { put } from './commands/put.js';
import { rm } from './commands/rm.js';
import { txn } from './commands/txn.js';
import { watch } from './commands/watch.js';

/**
 * The command table: one row per command, in the order help lists them. A new command is a
 * module in commands/ and a row here (main.ts and the help need nothing more).
 */
export const COMMANDS: readonly Command[] = [get, create, put, rm, ls, watch, txn, exportCommand, importCommand, health];
