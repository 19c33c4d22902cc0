import { Refusal } from '@kv/shared';

/** Why a store operation was refused; the API maps each reason to the contract's error code. */
export type StoreErrorReason =
  | 'key_exists'
  | 'key_not_found'
  | 'version_mismatch'
  | 'insufficient_storage'
  | 'persistence_failed'
  | 'backend_unavailable'
  | 'cursor_expired'
  | 'value_too_large'
  | 'too_many_ops';

/** What a refusal is about, for its message and for the answer's details. */
export interface StoreErrorDetails {
  readonly key?: string;
  /** The entry's current tag (version_mismatch). */
  readonly actualTag?: string;
  /** What the condition asked for, as the header said it (version_mismatch). */
  readonly wanted?: string;
  /** Which header's condition failed (version_mismatch). */
  readonly condition?: 'If-Match' | 'If-None-Match';
  /** Why, in words, when the reason alone does not say (limits, persistence, backend). */
  readonly why?: string;
  /** The revision of the listing a cursor belonged to (cursor_expired). */
  readonly revision?: number;
  /** The last key (or rolled-up prefix) the listing returned (cursor_expired). */
  readonly lastKey?: string;
}

const MESSAGES: Readonly<Record<StoreErrorReason, (d: StoreErrorDetails) => string>> = {
  key_exists: (d) => `key '${d.key}' already exists`,
  key_not_found: (d) => `key '${d.key}' not found`,
  version_mismatch: (d) =>
    d.condition === 'If-None-Match'
      ? `key '${d.key}' is at revision ${d.actualTag} (ETag "${d.actualTag}"), which If-None-Match ${d.wanted === '*' ? 'forbids (*: the key must not exist)' : `excludes (${d.wanted})`}`
      : `key '${d.key}' is at revision ${d.actualTag} (ETag "${d.actualTag}"), but If-Match asked for ${d.wanted}`,
  insufficient_storage: (d) => d.why ?? 'the store is full',
  persistence_failed: (d) => `the store is read-only: ${d.why ?? 'its log could not be written'}`,
  backend_unavailable: (d) => `the backend cannot be reached: ${d.why ?? 'no answer'}`,
  cursor_expired: (d) =>
    `the listing at revision ${d.revision} is no longer held (${d.why ?? 'its cursor expired'}); list again, starting after its last key, to go on at the latest revision`,
  value_too_large: (d) => d.why ?? 'the write is larger than the backend accepts',
  too_many_ops: (d) => d.why ?? 'the transaction has more operations than the backend accepts',
};

/** A refusal's message, from the one table of them. */
export function refusalMessage(reason: StoreErrorReason, details: StoreErrorDetails): string {
  return MESSAGES[reason](details);
}

/** The details of a refusal that its answer carries beside code and message (the rest stay in the log). */
export function publicDetails(reason: StoreErrorReason, details: StoreErrorDetails): Readonly<Record<string, unknown>> | undefined {
  if (reason === 'cursor_expired') return { revision: details.revision, lastKey: details.lastKey };
  return undefined;
}

/** A refused store operation. It knows nothing of HTTP: the reason names what went wrong. */
export class StoreError extends Refusal {
  override readonly name = 'StoreError';

  constructor(
    readonly reason: StoreErrorReason,
    readonly details: StoreErrorDetails = {},
  ) {
    super(refusalMessage(reason, details));
  }
}
