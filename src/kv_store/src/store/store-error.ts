/** Why a store operation was refused; the HTTP layer maps each reason to a status. */
export type StoreErrorReason = 'key_exists' | 'key_not_found' | 'version_mismatch' | 'insufficient_storage';

/** A refused store operation. It knows nothing of HTTP: the reason names what went wrong. */
export class StoreError extends Error {
  constructor(
    readonly reason: StoreErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}
