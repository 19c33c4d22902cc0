import type { RevisionCondition } from '../store/memory-store.js';

/** The ETag of an entry at `revision`. */
export function etag(revision: number): string {
  return `"${revision}"`;
}

/**
 * Parses If-Match into the revisions it names ('*' for any). Weak tags never match (If-Match
 * uses strong comparison) and tags that are not revisions are dropped, so a header naming only
 * those matches nothing.
 */
export function parseIfMatch(header: string | undefined): RevisionCondition | undefined {
  if (header === undefined) return undefined;
  if (header.trim() === '*') return '*';
  const revisions: number[] = [];
  for (const tag of header.split(',')) {
    const m = /^\s*"(\d{1,15})"\s*$/.exec(tag);
    if (m !== null) revisions.push(Number(m[1]));
  }
  return revisions;
}

/** True when If-None-Match names the entry's current ETag (weak comparison) or is '*'. */
export function noneMatchHits(header: string | undefined, revision: number): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  const current = etag(revision);
  for (const tag of header.split(',')) {
    const t = tag.trim();
    if (t === current || t === `W/${current}`) return true;
  }
  return false;
}
