/**
 * The error codes of the kv_store contract and the HTTP status of each: one table, shared by the
 * server (which answers them), the client (which types them) and test_client (which checks them).
 */
export const ERROR_STATUS = {
  invalid_json: 400,
  invalid_body: 400,
  invalid_key: 400,
  invalid_query: 400,
  invalid_header: 400,
  unauthorized: 401,
  forbidden: 403,
  key_not_found: 404,
  not_found: 404,
  method_not_allowed: 405,
  key_exists: 409,
  txn_failed: 409,
  cursor_expired: 410,
  history_compacted: 410,
  version_mismatch: 412,
  value_too_large: 413,
  payload_too_large: 413,
  too_many_ops: 413,
  unsupported_media_type: 415,
  too_many_watchers: 429,
  internal: 500,
  persistence_failed: 503,
  backend_unavailable: 503,
  insufficient_storage: 507,
} as const;

/** A code of the contract's error body `{"error": {"code", "message"}}`. */
export type ErrorCode = keyof typeof ERROR_STATUS;

/** True when `code` is one of the contract's error codes. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_STATUS, code);
}

/** The contract's JSON error body; `details` (if any) go beside code and message. */
export function errorBody(code: ErrorCode, message: string, details?: Readonly<Record<string, unknown>>): string {
  if (details === undefined) return `{"error":{"code":"${code}","message":${JSON.stringify(message)}}}`;
  return JSON.stringify({ error: { code, message, ...details } });
}
