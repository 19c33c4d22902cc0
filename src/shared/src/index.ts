// @kv/shared: what kv_store, the client and test_client all know, written once.

export type { Entry } from './entry-json.js';
export { entryProblems, isEntry } from './entry-json.js';
export type { Env, LogLevel } from './env.js';
export { baseUrl, ConfigError, host, integer, LOG_LEVELS, oneOf, raw, token, unknownVariables } from './env.js';
export type { ErrorCode } from './error-codes.js';
export { ERROR_STATUS, errorBody, isErrorCode } from './error-codes.js';
export type { Element, Member } from './json-members.js';
export { arrayElements, topLevelMembers } from './json-members.js';
export type { JsonObject, JsonValue } from './json-value.js';
export { isJsonObject } from './json-value.js';
export { keyPath } from './key-path.js';
export type { LogOutput, OutputStream } from './log-output.js';
export { createLogOutput, MAX_QUEUED_BYTES, standardLogOutput } from './log-output.js';
export type { ClosableServer, GracefulShutdownOptions, ShutdownLog } from './shutdown.js';
export { stopOnSignals } from './shutdown.js';
export { Refusal } from './refusal.js';
