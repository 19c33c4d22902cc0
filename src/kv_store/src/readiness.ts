/*
 * What /readyz asks: may this kv_store get traffic now? Each feature that can make the answer
 * "no" adds a check here where it is built: shutting down (app.ts), and as they land, recovery
 * and read-only after a persistence failure, and a backend that cannot be reached.
 *
 * A check reads state its feature keeps up to date and answers at once: it does no I/O, so
 * /readyz stays fast and cannot pile up work when probed often. Its reason is said to anyone who
 * asks (/readyz is open when access control is on), so it names what is wrong and what is being
 * done, never a key, a value, a token or a path.
 */

/** Undefined when all is well, else why not, in words. */
export type ReadinessCheck = () => string | undefined;

/** The outcome of one check. */
export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  /** Why it is not ok. */
  readonly reason?: string;
}

export interface ReadinessReport {
  readonly ready: boolean;
  /** Every check, in the order they were added. */
  readonly checks: readonly CheckResult[];
}

export class Readiness {
  private readonly checks: Array<{ readonly name: string; readonly check: ReadinessCheck }> = [];

  /** Adds a check; `name` is what /readyz calls it (lower case, e.g. `shutdown`, `recovery`, `backend`). */
  add(name: string, check: ReadinessCheck): void {
    if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`readiness check name '${name}' must be lower case letters, digits and _`);
    if (this.checks.some((c) => c.name === name)) throw new Error(`a readiness check named '${name}' already exists`);
    this.checks.push({ name, check });
  }

  /** Runs every check. A check that throws is failing, with its error's message as the reason. */
  report(): ReadinessReport {
    const checks = this.checks.map(({ name, check }): CheckResult => {
      let reason: string | undefined;
      try {
        reason = check();
      } catch (err) {
        reason = `the check failed: ${err instanceof Error ? err.message : String(err)}`;
      }
      return reason === undefined ? { name, ok: true } : { name, ok: false, reason };
    });
    return { ready: checks.every((c) => c.ok), checks };
  }
}
