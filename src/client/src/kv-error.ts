import type { ErrorCode } from '@kv/shared';

/** The error codes of the kv_store contract. */
export type KvErrorCode = ErrorCode;

/** kv_store refused a request: it answered the contract's JSON error body with this status and code. */
export class KvError extends Error {
  override readonly name: string = 'KvError';

  constructor(
    readonly status: number,
    /** The contract's code; a store may send one this client does not know, so any string. */
    readonly code: KvErrorCode | (string & {}),
    message: string,
    /** Fields of the error body beside code and message (a failed transaction's checks, a cursor's last key...). */
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }
}
