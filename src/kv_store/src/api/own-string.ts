/**
 * A copy of `s` that shares no memory with the string it was cut from. V8 may keep a slice as a
 * view into its parent, so a value or key sliced from a request would keep the whole body (or
 * URL) alive, memory that KV_MAX_MEMORY_BYTES never counts. `s` must be well-formed UTF-16.
 */
export function ownString(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}
