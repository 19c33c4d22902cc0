import type { Entry } from '@kv/shared';

export type { Entry } from '@kv/shared';

/** An entry with the ETag it was sent with, for If-Match and If-None-Match. */
export interface StoredEntry extends Entry {
  readonly etag: string;
}

/** A newly created entry, with the Location of its resource. */
export interface CreatedEntry extends StoredEntry {
  readonly location: string;
}
