import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpError } from './errors.js';

export interface AuthTokens {
  /** Read-write token (KV_AUTH_TOKEN). */
  readonly authToken: string | undefined;
  /** Read-only token (KV_READ_TOKEN). */
  readonly readToken: string | undefined;
}

export type Access = 'read' | 'write';

const CHALLENGE = { 'www-authenticate': 'Bearer realm="kv_store"' };

/** 403 for a read-only token on a write. */
export function forbidden(): HttpError {
  return new HttpError('forbidden', 'the bearer token is read-only; writes need the read-write token (KV_AUTH_TOKEN)');
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/**
 * Checks an `Authorization: Bearer <token>` header against the configured tokens and returns
 * what it grants, or returns null when access control is off. Tokens are compared as SHA-256 digests with timingSafeEqual, so the
 * time taken says nothing about the token, not even its length.
 */
export function createAuthorizer(tokens: AuthTokens): ((authorization: string | undefined, access: Access) => Access) | null {
  if (tokens.authToken === undefined && tokens.readToken === undefined) return null;
  const write = tokens.authToken === undefined ? null : digest(tokens.authToken);
  const read = tokens.readToken === undefined ? null : digest(tokens.readToken);
  return (header, access) => {
    const m = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
    if (m === null) {
      throw new HttpError('unauthorized', 'this store requires Authorization: Bearer <token>', CHALLENGE);
    }
    const given = digest(m[1] as string);
    const isWrite = write !== null && timingSafeEqual(given, write);
    const isRead = read !== null && timingSafeEqual(given, read);
    if (!isWrite && !isRead) {
      throw new HttpError('unauthorized', 'the bearer token is not valid', {
        'www-authenticate': 'Bearer realm="kv_store", error="invalid_token"',
      });
    }
    if (access === 'write' && !isWrite) throw forbidden();
    return isWrite ? 'write' : 'read';
  };
}
