/** The error codes of the kv_store contract. */
export type KvErrorCode =
  | 'invalid_json'
  | 'invalid_body'
  | 'invalid_key'
  | 'key_exists'
  | 'key_not_found'
  | 'version_mismatch'
  | 'value_too_large'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'method_not_allowed'
  | 'not_found'
  | 'insufficient_storage'
  | 'unauthorized'
  | 'forbidden'
  | 'internal';

/** kv_store refused a request: it answered the contract's JSON error body with this status and code. */
export class KvError extends Error {
  override readonly name = 'KvError';

  constructor(
    readonly status: number,
    /** The contract's code; a store may send one this client does not know, so any string. */
    readonly code: KvErrorCode | (string & {}),
    message: string,
  ) {
    super(message);
  }
}
