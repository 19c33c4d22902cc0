/** Why no usable answer came back: no connection, no answer in time, or an answer that is not the API. */
export type UnreachableReason = 'network' | 'timeout' | 'invalid_response';

/** kv_store could not be reached, did not answer in time, or answered garbage; the message names the URL. */
export class KvUnreachableError extends Error {
  override readonly name = 'KvUnreachableError';

  constructor(
    readonly reason: UnreachableReason,
    /** The URL of the request that failed. */
    readonly url: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
