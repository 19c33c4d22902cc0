// @kv/client: a typed client for the kv_store HTTP API.

export type { CreatedEntry, Entry, StoredEntry } from './entry.js';
export { entryProblems, isEntry } from './entry.js';
export type { JsonObject, JsonValue } from './json-value.js';
export { isJsonObject } from './json-value.js';
export { keyPath } from './key-path.js';
export type { CreateOptions, DeleteOptions, GetOptions, Health, KvClientOptions, NotModified, ReplaceOptions } from './kv-client.js';
export { KvClient } from './kv-client.js';
export type { KvErrorCode } from './kv-error.js';
export { KvError } from './kv-error.js';
export type { UnreachableReason } from './kv-unreachable-error.js';
export { KvUnreachableError } from './kv-unreachable-error.js';
export type { ExchangeSettings, RawRequest, RawResponse } from './raw-exchange.js';
export { parseJsonBody } from './raw-exchange.js';
