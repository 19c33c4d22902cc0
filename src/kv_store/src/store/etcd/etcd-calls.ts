/*
 * One etcd call as the etcd engine makes it: tried on the next member while etcd does not
 * answer, until it answers or the operation's deadline passes (then 503 backend_unavailable);
 * 503 at once when every member in turn refuses the connection (etcd is down, and a client
 * should hear so now, not in ten seconds). etcd's refusals become the StoreError that says what
 * to do: its storage quota (507), its request size (413 value_too_large), its operations per
 * Txn (413 too_many_ops); anything else it refuses is 503 with etcd's words.
 *
 * Two refusals stay EtcdErrors, for the caller to act on: a lease etcd no longer has (the write
 * takes a new one and plans again) and a revision etcd does not hold (compacted, or not reached
 * yet: a listing's cursor_expired, a watcher's history_compacted).
 */

import { StoreError } from '../store-error.js';
import { EtcdError, GRPC } from './etcd-wire.js';
import type { EtcdGrpc } from './etcd-grpc.js';

/** What the tries of a call came to, beyond its answer or error. */
export interface CallOutcome {
  /** Set when a try of the call may have been applied (etcd did not answer it). */
  ambiguous: boolean;
  /** Set when etcd answered the last try with an error: that try was not applied. */
  refused?: boolean;
}

export class EtcdCalls {
  constructor(
    private readonly etcd: EtcdGrpc,
    /** How long one operation may try (ms). */
    readonly timeoutMs: number,
    private readonly closed: () => boolean,
  ) {}

  /** Sends `body` in the etcd call `path` names (etcd-grpc.ts), as the header says, trying until `deadline` (ms since the epoch). */
  send<T>(path: string, body: unknown, outcome: CallOutcome = { ambiguous: false }, deadline = Date.now() + this.timeoutMs): Promise<T> {
    return this.retrying(() => this.etcd.call<T>(path, body), outcome, deadline);
  }

  /** Runs `call` (one or more etcd calls) as `send` runs one. */
  async retrying<T>(
    call: () => Promise<T>,
    outcome: CallOutcome = { ambiguous: false },
    deadline = Date.now() + this.timeoutMs,
  ): Promise<T> {
    const members = this.etcd.endpoints.length;
    let unreachable = 0;
    for (;;) {
      try {
        return await call();
      } catch (err) {
        if (!(err instanceof EtcdError)) throw err;
        if (err.failure === 'refused') {
          outcome.refused = true;
          throw refusal(err);
        }
        if (err.failure === 'ambiguous') {
          outcome.ambiguous = true;
          unreachable = 0;
        } else {
          unreachable++;
        }
        if (this.closed() || unreachable >= members || Date.now() >= deadline) {
          throw new StoreError('backend_unavailable', {
            why: outcome.ambiguous
              ? `etcd did not answer whether the write was applied (${err.message}); read the key to find out`
              : `etcd at ${this.etcd.endpoints.join(', ')}: ${err.message}`,
          });
        }
        if (err.failure === 'ambiguous') await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
}

/** etcd's refusal as the error the caller acts on (see the header). */
function refusal(err: EtcdError): Error {
  const message = err.message;
  if (/database space exceeded/.test(message)) {
    return new StoreError('insufficient_storage', {
      why: `etcd's storage quota is full (${message}); an operator must compact and defragment etcd and disarm its NOSPACE alarm`,
    });
  }
  if (/request is too large|larger than max/.test(message)) {
    return new StoreError('value_too_large', {
      why: `the write is larger than etcd accepts in one request (${message}; etcd's --max-request-bytes, 1.5 MiB by default)`,
    });
  }
  if (/too many operations/.test(message)) {
    return new StoreError('too_many_ops', {
      why: `the transaction needs more operations than etcd accepts in one Txn (${message}; etcd's --max-txn-ops, 128 by default; a deletePrefix counts one per key it deletes)`,
    });
  }
  if (err.code === GRPC.notFound || err.code === GRPC.outOfRange) return err;
  return new StoreError('backend_unavailable', { why: `etcd refused the request: ${message}` });
}
