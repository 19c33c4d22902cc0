/*
 * Where the services' JSON log lines go: the process's stdout, written so that nothing that
 * happens to it can hold the process. pino's default destination (sonic-boom, asynchronous)
 * flushes synchronously when the process exits and retries every failed write, EPIPE included,
 * every 100 ms: with the reading end of a pipe gone (`make start | tee log`, then Ctrl-C) both
 * services spun in that loop for ever and no signal or timer could end them. process.stdout
 * never writes synchronously at exit; on a pipe it writes without blocking and queues what the
 * reader has not taken yet. So:
 * - a write that fails (EPIPE: the reader is gone) ends the logging, quietly: the process goes on
 *   and shuts down as it would have;
 * - a reader that stops reading costs at most MAX_QUEUED_BYTES of queued lines; later lines are
 *   dropped until it catches up, and exit discards what is still queued;
 * - stderr, where start-up errors and Node's own warnings go, gets the same treatment for EPIPE.
 * A terminal (Node writes to a TTY synchronously) or a file is written as before.
 */

/** A destination for pino: one JSON line per write. */
export interface LogOutput {
  write(line: string): void;
}

/** Queued, unwritten log bytes past which new lines are dropped (a reader that stopped reading). */
export const MAX_QUEUED_BYTES = 8 * 1_048_576;

/** The part of a writable stream the output needs (process.stdout, or a test's stream). */
export interface OutputStream {
  write(chunk: string): boolean;
  readonly writableLength: number;
  readonly destroyed: boolean;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/**
 * A log output on `stream` that stops at the first write error and drops lines while more than
 * `maxQueuedBytes` are waiting to be written.
 */
export function createLogOutput(stream: OutputStream, maxQueuedBytes = MAX_QUEUED_BYTES): LogOutput {
  let failed = false;
  stream.on('error', () => {
    failed = true;
  });
  return {
    write(line: string): void {
      if (failed || stream.destroyed || stream.writableLength > maxQueuedBytes) return;
      stream.write(line);
    },
  };
}

let standard: LogOutput | undefined;

/** The process's stdout as a log output (one for the whole process); stderr's EPIPE is made harmless too. */
export function standardLogOutput(): LogOutput {
  if (standard === undefined) {
    // Without a listener a failed write to stderr (a closed pipe) is an uncaught exception.
    process.stderr.on('error', () => undefined);
    standard = createLogOutput(process.stdout);
  }
  return standard;
}
