import { randomBytes } from 'node:crypto';

/*
 * Request ids (X-Request-Id): a client, or a proxy in front of kv_store, may send one to follow
 * its request through the logs; it is kept if it is printable ASCII without spaces and at most
 * MAX_REQUEST_ID_LENGTH long. Otherwise, or without one, kv_store makes one: a random prefix
 * made once per process and a counter, so ids are unique without costing a random number per
 * request. Every answer carries the id, and every log line about the request.
 */

/** The longest X-Request-Id kept from a client; a longer one is replaced by a new id. */
export const MAX_REQUEST_ID_LENGTH = 128;

/** Visible ASCII only: no spaces or control characters, so the id is safe in a header and a log line. */
const PRINTABLE = /^[\x21-\x7e]+$/;

/** Makes request ids `<8 random characters>-<counter in base 36>`, unique within the process and across restarts. */
export class RequestIds {
  private readonly prefix = `${randomBytes(6).toString('base64url')}-`;
  private count = 0;

  /** The client's id if it is a valid one, else a new one. */
  take(given: string | string[] | undefined): string {
    if (typeof given === 'string' && given.length <= MAX_REQUEST_ID_LENGTH && PRINTABLE.test(given)) return given;
    return this.make();
  }

  /** A new id. */
  make(): string {
    return this.prefix + (++this.count).toString(36);
  }
}
