import { isJsonObject, type JsonValue } from './json-value.js';

/** One stored key as kv_store answers it. Times are ISO 8601 strings; `expiresAt` is null when it never expires. */
export interface Entry {
  readonly key: string;
  readonly value: JsonValue;
  /** 1 when created, +1 on each overwrite. */
  readonly version: number;
  /** The store-wide revision of the entry's last write. */
  readonly revision: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly expiresAt: string | null;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** What is wrong with `body` as a contract entry, one phrase per problem; empty when it is one. */
export function entryProblems(body: unknown): string[] {
  if (!isJsonObject(body)) return ['body is not a JSON object'];
  const fields = body as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof fields.key !== 'string') problems.push("'key' is not a string");
  if (!('value' in fields)) problems.push("'value' is missing");
  for (const name of ['version', 'revision'] as const) {
    const n = fields[name];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) problems.push(`'${name}' is not a whole number >= 1`);
  }
  for (const name of ['createdAt', 'updatedAt'] as const) {
    const t = fields[name];
    if (typeof t !== 'string' || !ISO_TIME.test(t)) problems.push(`'${name}' is not an ISO 8601 UTC time`);
  }
  const expiresAt = fields.expiresAt;
  if (expiresAt !== null && (typeof expiresAt !== 'string' || !ISO_TIME.test(expiresAt))) {
    problems.push("'expiresAt' is neither null nor an ISO 8601 UTC time");
  }
  return problems;
}

/** True when `body` has the shape of a contract entry. */
export function isEntry(body: unknown): body is Entry {
  return entryProblems(body).length === 0;
}
