import type { KvClient } from '../kv-client.js';
import type { Output } from './output.js';

/*
 * A kvctl command is a row of the command table (commands.ts): its name, what it takes, its
 * help, and `run`. A new command is a module in commands/ and a row in the table; main.ts
 * parses the line, builds the client and maps what `run` throws to the exit codes.
 */

/** An option of a command, as node:util parseArgs takes it, with its help. */
export interface CommandOption {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** What the value is, for help: `SECONDS`, `REVISION`. */
  readonly value?: string;
  readonly description: string;
}

export interface Command {
  readonly name: string;
  /** The arguments, as help shows them: `KEY VALUE_JSON`. */
  readonly synopsis: string;
  /** One line, for the list of commands. */
  readonly summary: string;
  /** What it does and prints, for its --help. */
  readonly description: string;
  readonly options: Readonly<Record<string, CommandOption>>;
  /** How many positional arguments it takes. */
  readonly args: { readonly min: number; readonly max: number };
  /** Command lines that run as written against a kv_store at the default URL. */
  readonly examples: readonly string[];
  /** Does the work; returns the exit code, throws KvError, KvUnreachableError or UsageError. */
  run(context: CommandContext): Promise<number>;
}

export interface CommandContext {
  readonly client: KvClient;
  /** The store's base URL. */
  readonly url: string;
  /** The positional arguments after the command's name. */
  readonly args: readonly string[];
  /** The command's options, by name. */
  readonly options: Readonly<Record<string, string | boolean | undefined>>;
  readonly out: Output;
  /** All of standard input, as text (VALUE_JSON `-`, and txn and import without FILE). */
  readStdin(): Promise<string>;
  /** A signal that aborts when kvctl is asked to stop (SIGINT, SIGTERM): for commands that run until then (watch). */
  stopSignal(): AbortSignal;
}
