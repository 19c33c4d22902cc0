import { ERROR_STATUS, type ErrorCode, errorBody, Refusal } from '@kv/shared';
import { StoreError } from '../store/store-error.js';

export type { ErrorCode };

/** An error answered to the client: its status comes from the code, per the contract's table (@kv/shared). */
export class HttpError extends Refusal {
  override readonly name = 'HttpError';
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra answer headers by lower-case name; `connection: close` closes the connection after the answer. */
    readonly headers: Readonly<Record<string, string>> = {},
    /** Fields of the error body beside code and message. */
    readonly details?: Readonly<Record<string, unknown>>,
  ) {
    super(message);
    this.status = ERROR_STATUS[code];
  }

  /** The contract's JSON error body. */
  body(): string {
    return errorBody(this.code, this.message, this.details);
  }
}

/** True for the errors that are answers (HttpError, StoreError), as opposed to bugs. */
export function isAnswerable(err: unknown): err is HttpError | StoreError {
  return err instanceof HttpError || err instanceof StoreError;
}

/** 413 for a body past `limit` (KV_MAX_BODY_BYTES); the connection is closed after the answer. */
export function payloadTooLarge(limit: number): HttpError {
  return new HttpError('payload_too_large', `request body is larger than the limit of ${limit} bytes (KV_MAX_BODY_BYTES)`, {
    connection: 'close',
  });
}

/** 405 with the methods that are allowed. */
export function methodNotAllowed(method: string, allow: readonly string[]): HttpError {
  const list = allow.join(', ');
  return new HttpError('method_not_allowed', `method ${method} is not allowed here; allowed: ${list}`, { allow: list });
}
