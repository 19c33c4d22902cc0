import { isUtf8 } from 'node:buffer';
import type { Comparison, TxnCheck, TxnOp, TxnRequest } from '../store/txn.js';
import { HttpError } from './errors.js';
import { arrayElements, type Member, topLevelMembers } from './json-members.js';
import { validateKey } from './keys.js';
import { ownString } from './own-string.js';
import { MAX_TTL_SECONDS, MIN_TTL_SECONDS } from './write-body.js';

/** Limits a transaction body is checked against. */
export interface TxnBodyLimits {
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  /** Most checks and ops together (KV_MAX_TXN_OPS). */
  readonly maxOps: number;
}

const BODY_FIELDS = ['checks', 'ops'];
const CHECK_FIELDS = ['key', 'exists', 'version', 'revision', 'value'];
const OPERATORS = ['eq', 'ne', 'lt', 'lte', 'gt', 'gte'];
const OP_FIELDS: Readonly<Record<string, readonly string[]>> = {
  create: ['op', 'key', 'value', 'ttl'],
  replace: ['op', 'key', 'value', 'ttl'],
  set: ['op', 'key', 'value', 'ttl'],
  delete: ['op', 'key'],
  deletePrefix: ['op', 'prefix'],
  incr: ['op', 'key', 'by', 'ttl'],
  get: ['op', 'key'],
};

function invalid(message: string): HttpError {
  return new HttpError('invalid_body', message);
}

/** The members of the object at `start`, refusing duplicates and fields not in `allowed`; by name. */
function members(text: string, start: number, where: string, allowed: readonly string[]): Map<string, Member> {
  const found = new Map<string, Member>();
  for (const member of topLevelMembers(text, start)) {
    if (found.has(member.name)) throw invalid(`${where}: field '${member.name}' appears more than once`);
    if (!allowed.includes(member.name)) {
      throw invalid(`${where}: unknown field '${member.name}'; the fields are ${allowed.map((f) => `'${f}'`).join(', ')}`);
    }
    found.set(member.name, member);
  }
  return found;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function key(value: unknown, where: string, maxKeyBytes: number): string {
  if (typeof value !== 'string') throw invalid(`${where} must be a string`);
  try {
    return validateKey(value, maxKeyBytes);
  } catch (err) {
    if (err instanceof HttpError) throw new HttpError('invalid_key', `${where}: ${err.message}`);
    throw err;
  }
}

function comparison(value: unknown, where: string): Comparison {
  const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (isCount(value)) return value;
  if (!isObject(value) || Object.keys(value).length === 0) {
    throw invalid(`${where} must be a whole number, or an object of ${OPERATORS.join(', ')} with whole numbers`);
  }
  for (const [operator, bound] of Object.entries(value)) {
    if (!OPERATORS.includes(operator)) throw invalid(`${where}: unknown comparison '${operator}'; use ${OPERATORS.join(', ')}`);
    if (!isCount(bound)) throw invalid(`${where}.${operator} must be a whole number >= 0`);
  }
  return value as Comparison;
}

function ttlMs(value: unknown, where: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !(value >= MIN_TTL_SECONDS) || value > MAX_TTL_SECONDS) {
    throw invalid(`${where} must be a number of seconds from ${MIN_TTL_SECONDS} to ${MAX_TTL_SECONDS}`);
  }
  return value * 1000;
}

/** The JSON text of a member's value, checked against the value limit. */
function valueText(text: string, member: Member | undefined, where: string, maxValueBytes: number): string {
  if (member === undefined) throw invalid(`${where} is required`);
  const slice = text.slice(member.start, member.end);
  if (slice.length * 3 > maxValueBytes) {
    const bytes = Buffer.byteLength(slice, 'utf8');
    if (bytes > maxValueBytes) {
      throw new HttpError(
        'value_too_large',
        `${where} is ${bytes} bytes of JSON; the limit is ${maxValueBytes} bytes (KV_MAX_VALUE_BYTES)`,
      );
    }
  }
  return ownString(slice);
}

/**
 * Parses a POST /txn body into checks and ops, with every value kept as the JSON text it
 * arrived as. Refuses with 400 invalid_json / invalid_body / invalid_key naming the field (as
 * `ops[2].value`), 413 value_too_large, or 413 too_many_ops past the limit.
 */
export function parseTxnBody(body: Buffer, limits: TxnBodyLimits): TxnRequest {
  if (!isUtf8(body)) throw new HttpError('invalid_json', 'request body is not valid UTF-8');
  const text = body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new HttpError(
      'invalid_json',
      text.trim() === '' ? 'request body is empty; it must be a JSON object' : `request body is not valid JSON: ${detail}`,
    );
  }
  if (!isObject(parsed)) throw invalid("request body must be a JSON object with 'checks' and/or 'ops'");
  const top = members(text, 0, 'request body', BODY_FIELDS);
  const lists: Record<string, unknown[]> = {};
  for (const name of BODY_FIELDS) {
    const list = parsed[name];
    if (list !== undefined && !Array.isArray(list)) throw invalid(`field '${name}' must be an array`);
    lists[name] = list ?? [];
  }
  const count = (lists.checks as unknown[]).length + (lists.ops as unknown[]).length;
  if (count > limits.maxOps) {
    throw new HttpError('too_many_ops', `the transaction has ${count} checks and ops; the limit is ${limits.maxOps} (KV_MAX_TXN_OPS)`);
  }
  const spans = (name: string) => {
    const member = top.get(name);
    return member === undefined ? [] : arrayElements(text, member.start);
  };

  const checks: TxnCheck[] = spans('checks').map((span, i) => {
    const where = `checks[${i}]`;
    const check = (lists.checks as unknown[])[i];
    if (!isObject(check)) throw invalid(`${where} must be an object with 'key' and a condition`);
    const fields = members(text, span.start, where, CHECK_FIELDS);
    const result: { -readonly [K in keyof TxnCheck]: TxnCheck[K] } = { key: key(check.key, `${where}.key`, limits.maxKeyBytes) };
    if (check.exists !== undefined) {
      if (typeof check.exists !== 'boolean') throw invalid(`${where}.exists must be true or false`);
      result.exists = check.exists;
    }
    if (check.version !== undefined) result.version = comparison(check.version, `${where}.version`);
    if (check.revision !== undefined) result.revision = comparison(check.revision, `${where}.revision`);
    if (fields.has('value')) result.value = valueText(text, fields.get('value'), `${where}.value`, limits.maxValueBytes);
    if (fields.size === 1) throw invalid(`${where} has no condition; give exists, version, revision or value`);
    return result;
  });

  const ops: TxnOp[] = spans('ops').map((span, i) => {
    const where = `ops[${i}]`;
    const op = (lists.ops as unknown[])[i];
    if (!isObject(op)) throw invalid(`${where} must be an object with 'op'`);
    const kind = op.op;
    const allowed = typeof kind === 'string' && Object.hasOwn(OP_FIELDS, kind) ? (OP_FIELDS[kind] as readonly string[]) : undefined;
    if (allowed === undefined) throw invalid(`${where}.op must be one of ${Object.keys(OP_FIELDS).join(', ')}`);
    const fields = members(text, span.start, where, allowed);
    switch (kind) {
      case 'create':
      case 'replace':
      case 'set':
        return {
          op: kind,
          key: key(op.key, `${where}.key`, limits.maxKeyBytes),
          value: valueText(text, fields.get('value'), `${where}.value`, limits.maxValueBytes),
          ttlMs: ttlMs(op.ttl, `${where}.ttl`),
        };
      case 'incr': {
        const by = fields.get('by');
        if (by !== undefined && typeof op.by !== 'number') throw invalid(`${where}.by must be a JSON number`);
        return {
          op: 'incr',
          key: key(op.key, `${where}.key`, limits.maxKeyBytes),
          by: by === undefined ? '1' : text.slice(by.start, by.end),
          ttlMs: ttlMs(op.ttl, `${where}.ttl`),
        };
      }
      case 'deletePrefix':
        if (typeof op.prefix !== 'string') throw invalid(`${where}.prefix must be a string`);
        return { op: 'deletePrefix', prefix: ownString(op.prefix) };
      default:
        return { op: kind as 'delete' | 'get', key: key(op.key, `${where}.key`, limits.maxKeyBytes) };
    }
  });
  return { checks, ops };
}
