/** The path of a key's resource: `/v1/` and the key with every reserved character percent-encoded. */
export function keyPath(key: string): string {
  return `/v1/${encodeURIComponent(key)}`;
}
