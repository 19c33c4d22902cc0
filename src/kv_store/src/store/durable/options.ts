/** The settings and services persistence is built from (config.ts reads the settings from KV_* variables). */

/** When the log is fsynced: before each answer (group commit), once a second, or when the OS decides. */
export type FsyncPolicy = 'always' | 'everysec' | 'no';
export const FSYNC_POLICIES: readonly FsyncPolicy[] = ['always', 'everysec', 'no'];

/** What start-up does with damage inside the log: refuse to start, or keep the valid prefix. */
export type RecoveryMode = 'strict' | 'truncate';
export const RECOVERY_MODES: readonly RecoveryMode[] = ['strict', 'truncate'];

/** Where persistence reports; a pino logger fits. */
export interface PersistenceLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** When deferred work runs; tests drive a manual one, so no verdict depends on the machine's speed. */
export interface Scheduler {
  /** Runs `fn` after the I/O callbacks of this turn of the event loop (setImmediate). */
  soon(fn: () => void): void;
  /** Runs `fn` every `ms` milliseconds until the returned function is called; never keeps the process alive. */
  every(ms: number, fn: () => void): () => void;
  /** Milliseconds since the epoch. */
  now(): number;
}

export const realScheduler: Scheduler = {
  soon: (fn) => void setImmediate(fn),
  every: (ms, fn) => {
    const timer = setInterval(fn, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
  now: () => Date.now(),
};

/** A promise that settles on the scheduler's next `soon`: where long work yields to requests. */
export function nextTurn(scheduler: Scheduler): Promise<void> {
  return new Promise((resolve) => scheduler.soon(resolve));
}
