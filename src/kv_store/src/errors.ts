import type { StoreErrorReason } from './store/store-error.js';

/** The error codes of the HTTP contract. */
export type ErrorCode =
  | 'invalid_json'
  | 'invalid_body'
  | 'invalid_key'
  | StoreErrorReason
  | 'value_too_large'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'method_not_allowed'
  | 'not_found'
  | 'unauthorized'
  | 'forbidden'
  | 'internal';

/** The HTTP status of each error code. */
export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = {
  invalid_json: 400,
  invalid_body: 400,
  invalid_key: 400,
  unauthorized: 401,
  forbidden: 403,
  key_not_found: 404,
  not_found: 404,
  method_not_allowed: 405,
  key_exists: 409,
  version_mismatch: 412,
  value_too_large: 413,
  payload_too_large: 413,
  unsupported_media_type: 415,
  internal: 500,
  insufficient_storage: 507,
};

/** An error answered to the client: its status comes from the code, per the contract. */
export class HttpError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
    this.status = ERROR_STATUS[code];
  }
}

/** The contract's JSON error body. */
export function errorBody(code: ErrorCode, message: string): string {
  return JSON.stringify({ error: { code, message } });
}
