import type { EntityTag, TagCondition } from '../store/store.js';
import { HttpError } from './errors.js';

// One element of an entity-tag list: W/"x", "x", or a bare revision number (lenient: the body
// says `"revision": 35`, and people send `If-Match: 35`; it is read as "35").
const ELEMENT = /^(?:(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"|(\d{1,15}))$/;

/**
 * Parses If-Match or If-None-Match: '*', or a comma-separated list of entity tags. A header
 * that is neither is 400 invalid_header (a malformed header is not a mismatch: retrying it
 * would never succeed). Undefined without the header.
 */
export function parseTagCondition(name: 'If-Match' | 'If-None-Match', header: string | undefined): TagCondition | undefined {
  if (header === undefined) return undefined;
  const trimmed = header.trim();
  if (trimmed === '*') return '*';
  const tags: EntityTag[] = [];
  for (const element of trimmed.split(',')) {
    const item = element.trim();
    if (item === '') continue; // RFC 9110 list syntax allows empty elements
    const m = ELEMENT.exec(item);
    if (m === null) {
      throw new HttpError(
        'invalid_header',
        `${name} must be * or a list of ETags such as "35" (the entry's revision in quotes), got '${header.slice(0, 100)}'`,
      );
    }
    tags.push(m[3] === undefined ? { tag: m[2] as string, weak: m[1] !== undefined } : { tag: m[3], weak: false });
  }
  return tags; // an empty list is a list: it matches nothing
}

/** True when If-None-Match holds the entry's tag (weak comparison) or is '*': a read answers 304. */
export function noneMatchHits(condition: TagCondition | undefined, tag: string): boolean {
  if (condition === undefined) return false;
  return condition === '*' || condition.some((t) => t.tag === tag);
}
