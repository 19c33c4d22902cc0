import type { ListPosition, ListQuery } from '../store/store.js';
import { invalidQuery } from './query.js';

/*
 * A listing's cursor: opaque to clients, but only data. It is base64url of the JSON
 * {"r": revision, "k": the last key or rolled-up prefix returned, "f": a fingerprint of the
 * listing's parameters, "c": the count of the first page, if it asked}. The store holds the
 * listing's snapshot by revision; the cursor says where in it the next page starts, so the same
 * cursor sent again gives the same page. The fingerprint catches a cursor sent with other
 * parameters than its first page.
 */

/** What a cursor says. */
export interface Cursor {
  readonly position: ListPosition;
  readonly fingerprint: string;
  readonly count: number | undefined;
}

/** The parameters a cursor is bound to: all of a listing's but the cursor. */
export type ListParameters = Omit<ListQuery, 'from'>;

/**
 * A short digest of a listing's parameters: 64 bits of FNV-1a over their JSON text's UTF-16 units
 * (two 32-bit lanes of different seeds), as 16 hex digits. It only tells one listing's parameters
 * from another's, so it need not be a cryptographic hash, and every page computes it: a SHA-256
 * here was a few per cent of a page's time.
 */
export function fingerprint(q: ListParameters): string {
  const text = JSON.stringify([q.prefix, q.start ?? null, q.end ?? null, q.limit, q.values, q.delimiter ?? null, q.reverse, q.count]);
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  return hex8(a) + hex8(b ^ (b >>> 15));
}

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

/** The cursor text for the next page after `position`. */
export function encodeCursor(position: ListPosition, print: string, count: number | undefined): string {
  const data: Record<string, unknown> = { r: position.revision, k: position.after, f: print };
  if (count !== undefined) data.c = count;
  return Buffer.from(JSON.stringify(data)).toString('base64url');
}

/** What a cursor text says; 400 invalid_query if it is not one this API makes. */
export function decodeCursor(text: string): Cursor {
  let data: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(text)) throw new Error('not base64url');
    data = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw invalidQuery("parameter 'cursor' is not a cursor this store gave out");
  }
  const { r, k, f, c } = (data ?? {}) as Record<string, unknown>;
  if (
    !Number.isSafeInteger(r) ||
    (r as number) < 0 ||
    typeof k !== 'string' ||
    typeof f !== 'string' ||
    (c !== undefined && (!Number.isSafeInteger(c) || (c as number) < 0))
  ) {
    throw invalidQuery("parameter 'cursor' is not a cursor this store gave out");
  }
  return { position: { revision: r as number, after: k }, fingerprint: f, count: c as number | undefined };
}
