/** A server that can stop accepting and close its connections: node:http's Server, or kv_store's own. */
export interface ClosableServer {
  close(callback?: (err?: Error) => void): unknown;
  closeIdleConnections(): void;
  closeAllConnections(): void;
}

/** Where shutdown reports progress: a pino logger fits. */
export interface ShutdownLog {
  info(message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface GracefulShutdownOptions {
  readonly server: ClosableServer;
  /** Longest wait for requests in flight; then remaining connections are closed. */
  readonly timeoutMs: number;
  readonly log: ShutdownLog;
  /** Runs first, when the signal arrives (stop background work, end streams, say Connection: close). */
  readonly beforeClose?: () => void;
  /** Runs last, just before exit (flush logs, close files); may return a promise, which is awaited within the timeout. */
  readonly afterClose?: () => void | Promise<void>;
  /** What ends the process; process.exit by default. */
  readonly exit?: (code: number) => void;
}

/**
 * On SIGTERM or SIGINT (once): stop accepting, let requests in flight finish (idle keep-alive
 * connections are closed at once and busy ones as soon as they are idle), then exit 0; after
 * `timeoutMs` the remaining connections are closed and the process exits 0 all the same. The
 * deadline is a timer of its own, and a last one ends the process 2 s after it whatever
 * `afterClose` does. Timers need a free event loop: the logs must never write synchronously in
 * a loop (log-output.ts), whatever happens to stdout.
 */
export function stopOnSignals(options: GracefulShutdownOptions): void {
  const { server, timeoutMs, log } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let stopping = false;
  let finishing = false;
  const finish = async (): Promise<void> => {
    if (finishing) return;
    finishing = true;
    try {
      await options.afterClose?.();
    } finally {
      exit(0);
    }
  };
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    options.beforeClose?.();
    const idleCloser = setInterval(() => server.closeIdleConnections(), 50);
    server.close(() => {
      clearInterval(idleCloser);
      log.info('stopped');
      void finish();
    });
    server.closeIdleConnections();
    // Logged once nothing new is accepted: a client that reads this line can count on it.
    log.info({ signal }, 'shutting down: finishing requests in flight');
    setTimeout(() => {
      log.warn({ timeoutMs }, 'shutdown timed out; closing remaining connections');
      server.closeAllConnections();
      void finish();
    }, timeoutMs).unref();
    // Whatever happens to the steps above, the process ends a little after the deadline.
    setTimeout(() => exit(0), timeoutMs + 2000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
