import { KvError } from '../kv-error.js';
import { KvUnreachableError } from '../kv-unreachable-error.js';

/** kvctl's exit codes, for scripts (the spec's: operations.md, CLI). */
export const EXIT = {
  ok: 0,
  /** A command line kvctl cannot use, or input the store refused as malformed (400, 415). */
  usage: 1,
  notFound: 2,
  /** 409 (the key exists) or 412 (If-Match did not match). */
  conflict: 3,
  /** 401 or 403. */
  auth: 4,
  /** No answer, no answer in time, an answer that is not kv_store's, a 5xx; or, for `health`, not ready. */
  unreachable: 5,
  /** 413 (too large) or 507 (the store is full). */
  limits: 6,
  /**
   * 410: what the command needed is no longer held: a watch's history moved past it
   * (history_compacted), or a listing's cursor expired. Not in the spec's list, which has no
   * code for it; running the command again (from a new listing) is the way on.
   */
  gone: 7,
} as const;

/** The exit code for a refusal with this HTTP status. */
export function exitCodeForStatus(status: number): number {
  if (status === 404) return EXIT.notFound;
  if (status === 409 || status === 412) return EXIT.conflict;
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 413 || status === 507) return EXIT.limits;
  if (status === 410) return EXIT.gone;
  if (status >= 400 && status < 500) return EXIT.usage;
  return EXIT.unreachable;
}

/** A command line kvctl cannot use: exit 1, with the message and a pointer to --help. */
export class UsageError extends Error {
  override readonly name = 'UsageError';

  constructor(
    message: string,
    /** The command whose --help to point at. */
    readonly command?: string,
  ) {
    super(message);
  }
}

/** The exit code for what a command threw; undefined for an error that is a bug. */
export function exitCodeFor(err: unknown): number | undefined {
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof KvError) return exitCodeForStatus(err.status);
  if (err instanceof KvUnreachableError) return EXIT.unreachable;
  return undefined;
}
