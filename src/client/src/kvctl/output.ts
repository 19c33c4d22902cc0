/** Where a command's result goes: readable text by default, JSON with `-o json` (one document per result). */
export type Format = 'text' | 'json';

/** Something to write to: process.stdout, or a test's buffer. */
export interface Sink {
  write(text: string): unknown;
}

export class Output {
  constructor(
    readonly format: Format,
    private readonly stdout: Sink,
    private readonly stderr: Sink,
  ) {}

  /** A result: `text()` for people, or `json` as one line of JSON for scripts. */
  result(text: () => string, json: unknown): void {
    this.stdout.write(this.format === 'json' ? `${JSON.stringify(json)}\n` : `${text()}\n`);
  }

  /** Plain text on stdout, whatever the format (help). */
  print(text: string): void {
    this.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** A problem, on stderr: `kvctl: …` for people, the contract's error body for scripts. */
  error(message: string, json: Record<string, unknown>): void {
    this.stderr.write(this.format === 'json' ? `${JSON.stringify({ error: json })}\n` : `kvctl: ${message}\n`);
  }

  /** A note on stderr (hints), text only. */
  note(text: string): void {
    if (this.format === 'text') this.stderr.write(`${text}\n`);
  }
}

/** Rows of `label  value`, labels padded to one width; a value of several lines is indented under its first. */
export function table(rows: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  return rows.map(([label, value]) => label.padEnd(width) + value.split('\n').join(`\n${' '.repeat(width)}`)).join('\n');
}

/** A JSON value as people read it: on one line when short, else indented. */
export function readableJson(value: unknown): string {
  const line = JSON.stringify(value);
  return line.length <= 72 ? line : JSON.stringify(value, null, 2);
}

/** Rows of cells in aligned columns, two spaces apart; the last cell of a row is not padded. */
export function columns(rows: ReadonlyArray<readonly string[]>): string {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd((widths[i] ?? 0) + 2))).join('')).join('\n');
}
