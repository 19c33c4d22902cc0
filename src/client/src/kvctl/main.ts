import { parseArgs } from 'node:util';
import { baseUrl, ConfigError, type Env } from '@kv/shared';
import { KvClient } from '../kv-client.js';
import { KvError } from '../kv-error.js';
import { KvUnreachableError } from '../kv-unreachable-error.js';
import type { Command, CommandOption } from './command.js';
import { COMMANDS } from './commands.js';
import { EXIT, exitCodeFor, UsageError } from './exit-codes.js';
import { type Format, Output, type Sink } from './output.js';

/*
 * kvctl: kv_store from the shell, on the typed client. The line is read with node:util
 * parseArgs, twice: once to find the command (global options may come anywhere), then strictly
 * with the global options and that command's. What a command throws becomes a message on
 * stderr and one of the exit codes in exit-codes.ts.
 */

/** What kvctl runs with: the process's streams and environment, or a test's. */
export interface Io {
  readonly stdout: Sink;
  readonly stderr: Sink;
  readonly env: Env;
  readStdin(): Promise<string>;
  /**
   * A signal that aborts when the process is asked to stop. Called only by commands that run
   * until stopped (watch), so that every other command still dies of SIGINT at once.
   */
  stopSignal?(): AbortSignal;
}

const DEFAULT_URL = 'http://127.0.0.1:8080';

const GLOBAL_OPTIONS: Readonly<Record<string, CommandOption>> = {
  url: { type: 'string', value: 'URL', description: `kv_store's address (default: $KV_URL, else ${DEFAULT_URL})` },
  token: {
    type: 'string',
    value: 'TOKEN',
    description: 'the bearer token when access control is on (default: $KV_TOKEN, which ps cannot see)',
  },
  output: { type: 'string', short: 'o', value: 'text|json', description: 'readable text (the default), or JSON for scripts' },
  help: { type: 'boolean', short: 'h', description: 'show help' },
};

/** Runs one kvctl command line; resolves to the exit code. */
export async function kvctl(argv: readonly string[], io: Io): Promise<number> {
  let out = new Output(peekFormat(argv), io.stdout, io.stderr);
  let command: Command | undefined;
  try {
    const name = commandName(argv);
    if (name === undefined || name === 'help') {
      const topic = name === 'help' ? positionals(argv)[1] : undefined;
      const wanted = topic === undefined ? undefined : findCommand(topic);
      if (name === undefined && !asksHelp(argv)) {
        io.stderr.write(generalHelp());
        return EXIT.usage;
      }
      out.print(wanted === undefined ? generalHelp() : commandHelp(wanted));
      return EXIT.ok;
    }
    command = findCommand(name);
    const line = parseLine(argv, command);
    out = new Output(line.format, io.stdout, io.stderr);
    if (line.help) {
      out.print(commandHelp(command));
      return EXIT.ok;
    }
    const url = line.url ?? baseUrl(io.env, 'KV_URL', DEFAULT_URL, 'KV_TOKEN');
    const token = line.token ?? (io.env.KV_TOKEN === '' ? undefined : io.env.KV_TOKEN);
    const client = new KvClient({ baseUrl: url, token });
    const stopSignal = io.stopSignal ?? (() => new AbortController().signal);
    return await command.run({ client, url, args: line.args, options: line.options, out, readStdin: io.readStdin, stopSignal });
  } catch (err) {
    return report(err instanceof ConfigError ? new UsageError(err.message, command?.name) : err, out);
  }
}

/** What went wrong, on stderr; the exit code. */
function report(err: unknown, out: Output): number {
  if (err instanceof UsageError) {
    out.error(err.message, { code: 'usage', message: err.message });
    out.note(`Run 'kvctl ${err.command === undefined ? '' : `${err.command} `}--help' for usage.`);
  } else if (err instanceof KvError) {
    out.error(`${err.message} (${err.status} ${err.code})`, { status: err.status, code: err.code, message: err.message, ...err.details });
  } else if (err instanceof KvUnreachableError) {
    out.error(err.message, { code: 'unreachable', reason: err.reason, message: err.message });
  } else {
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    out.error(`internal error: ${message}`, { code: 'internal', message });
    return EXIT.usage;
  }
  return exitCodeFor(err) ?? EXIT.usage;
}

function findCommand(name: string): Command {
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) throw new UsageError(`unknown command '${name}'; the commands are ${COMMANDS.map((c) => c.name).join(', ')}`);
  return command;
}

/** Every option any command knows, so that the first pass reads option values as values. */
function allOptions() {
  const options: Record<string, CommandOption> = { ...GLOBAL_OPTIONS };
  for (const command of COMMANDS) Object.assign(options, command.options);
  return parseArgsOptions(options);
}

function parseArgsOptions(options: Readonly<Record<string, CommandOption>>) {
  return Object.fromEntries(
    Object.entries(options).map(([name, o]) => [name, o.short === undefined ? { type: o.type } : { type: o.type, short: o.short }]),
  );
}

/** The positionals of a lenient first pass (the command's name first). */
function positionals(argv: readonly string[]): string[] {
  return parseArgs({ args: [...argv], options: allOptions(), strict: false, allowPositionals: true }).positionals;
}

function commandName(argv: readonly string[]): string | undefined {
  return positionals(argv)[0];
}

function asksHelp(argv: readonly string[]): boolean {
  return parseArgs({ args: [...argv], options: allOptions(), strict: false, allowPositionals: true }).values.help === true;
}

/** -o as far as a lenient pass can tell, so that even a usage error is reported in the format asked for. */
function peekFormat(argv: readonly string[]): Format {
  const { values } = parseArgs({ args: [...argv], options: allOptions(), strict: false, allowPositionals: true });
  return values.output === 'json' ? 'json' : 'text';
}

interface Line {
  readonly args: string[];
  readonly options: Record<string, string | boolean | undefined>;
  readonly format: Format;
  readonly help: boolean;
  readonly url: string | undefined;
  readonly token: string | undefined;
}

/** The strict pass: the global options and the command's, and its arguments. */
function parseLine(argv: readonly string[], command: Command): Line {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: parseArgsOptions({ ...GLOBAL_OPTIONS, ...command.options }),
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? (err.message.split('\n')[0] ?? err.message) : String(err), command.name);
  }
  const { values } = parsed;
  const format = values.output ?? 'text';
  if (format !== 'text' && format !== 'json') throw new UsageError(`-o must be text or json, got '${String(format)}'`, command.name);
  const help = values.help === true;
  const args = parsed.positionals.slice(1);
  if (!help && (args.length < command.args.min || args.length > command.args.max)) {
    throw new UsageError(
      `usage: kvctl ${command.name}${command.synopsis === '' ? '' : ` ${command.synopsis}`} (got ${args.length} argument${args.length === 1 ? '' : 's'})`,
      command.name,
    );
  }
  const url = typeof values.url === 'string' ? baseUrl({ '--url': values.url }, '--url', DEFAULT_URL, '--token') : undefined;
  return {
    args,
    options: values as Record<string, string | boolean | undefined>,
    format,
    help,
    url,
    token: typeof values.token === 'string' && values.token !== '' ? values.token : undefined,
  };
}

function optionLines(options: Readonly<Record<string, CommandOption>>): string[] {
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short === undefined ? '    ' : `-${o.short}, `}--${name}${o.value === undefined ? '' : ` ${o.value}`}`;
    return [flag, o.description] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  return rows.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`);
}

function generalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => `${c.name} ${c.synopsis}`.length)) + 2;
  return [
    'kvctl: kv_store from the shell',
    '',
    'Usage: kvctl COMMAND [ARGUMENTS] [OPTIONS]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${`${c.name} ${c.synopsis}`.padEnd(width)}${c.summary}`),
    '',
    'Global options (anywhere on the line):',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Exit codes: 0 ok, 1 usage, 2 not found, 3 conflict (409, 412), 4 auth (401, 403), 5 unreachable, 6 limits (413, 507),',
    '7 gone (410: a watch from a revision the store no longer holds, an expired listing cursor).',
    "Run 'kvctl COMMAND --help' for a command's options and examples.",
    '',
  ].join('\n');
}

function commandHelp(command: Command): string {
  const options = Object.keys(command.options).length === 0 ? [] : ['', 'Options:', ...optionLines(command.options)];
  return [
    `Usage: kvctl ${command.name}${command.synopsis === '' ? '' : ` ${command.synopsis}`}${Object.keys(command.options).length === 0 ? '' : ' [OPTIONS]'}`,
    '',
    wrap(command.description, 80),
    ...options,
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    `Example${command.examples.length === 1 ? '' : 's'}:`,
    ...command.examples.map((e) => `  ${e}`),
    '',
  ].join('\n');
}

/** Text broken into lines of at most `width` characters, at spaces. */
function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines.join('\n');
}
