// @kv/client: a typed client for the kv_store HTTP API.

export type { ErrorCode, JsonObject, JsonValue } from '@kv/shared';
export { entryProblems, isEntry, isJsonObject, keyPath } from '@kv/shared';
export type { CreatedEntry, Entry, StoredEntry } from './entry.js';
export type {
  CreateOptions,
  DeleteOptions,
  GetOptions,
  Health,
  KvClientOptions,
  NotModified,
  Readiness,
  ReadinessCheck,
  ReplaceOptions,
} from './kv-client.js';
export { KvClient } from './kv-client.js';
export type { CheckConditions, Comparison, TxnFailureDetail, TxnOpResult, TxnSuccess } from './txn.js';
export { TxnBuilder, TxnFailedError } from './txn.js';
export type { KvErrorCode } from './kv-error.js';
export type { ListedItem, ListOptions, ListPage } from './listing.js';
export { Listing } from './listing.js';
export type { Change, WatchEvent, WatchOptions } from './watching.js';
export { KvHistoryCompactedError, Watch } from './watching.js';
export { KvError } from './kv-error.js';
export type { UnreachableReason } from './kv-unreachable-error.js';
export { KvUnreachableError } from './kv-unreachable-error.js';
export type { ExchangeSettings, RawRequest, RawResponse, StreamResponse } from './raw-exchange.js';
export { parseJsonBody } from './raw-exchange.js';
