import { entryProblems, isJsonObject, type JsonValue } from '@kv/client';
import { jsonEqual, show, valueAt } from './json-match.js';

/** What a response must look like for a step to hold. */
export interface Expected {
  /** The status, or the statuses any one of which is fine. */
  readonly status: number | readonly number[];
  /**
   * `entry`: a contract entry (key, value, version, revision, times) with `ETag: "<revision>"`;
   * `error`: the contract error body `{"error": {"code", "message"}}`; `empty`: no body at all;
   * `listing`: a listing page `{"revision", "items", "prefixes", "more", "cursor"}`;
   * `changes`: a long-poll watch answer `{"revision", "changes", "more"}`.
   */
  readonly shape?: 'entry' | 'error' | 'empty' | 'listing' | 'changes';
  /** Exact values at dotted paths of the body, e.g. `{"version": 2, "error.code": "key_exists", "items.*.key": ["a"]}`. */
  readonly body?: Readonly<Record<string, JsonValue>>;
  /** Exact values of response headers (lower-case names). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** The parts of a response an expectation looks at. */
export interface Observed {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The parsed JSON body; undefined when there was none. */
  readonly body: JsonValue | undefined;
}

/** Every way `observed` misses `expected`, one phrase each; empty when the step holds. */
export function mismatches(expected: Expected, observed: Observed): string[] {
  const problems: string[] = [];
  const statuses: readonly number[] = typeof expected.status === 'number' ? [expected.status] : expected.status;
  if (!statuses.includes(observed.status)) {
    problems.push(`status: expected ${statuses.join(' or ')}, got ${observed.status}${errorHint(observed.body)}`);
  }
  problems.push(...shapeProblems(expected.shape, observed));
  for (const [name, value] of Object.entries(expected.headers ?? {})) {
    const actual = observed.headers[name];
    if (actual !== value)
      problems.push(
        `header ${name}: expected ${JSON.stringify(value)}, got ${actual === undefined ? '(missing)' : JSON.stringify(actual)}`,
      );
  }
  for (const [path, value] of Object.entries(expected.body ?? {})) {
    const actual = valueAt(observed.body, path);
    if (!jsonEqual(actual, value)) problems.push(`body.${path}: expected ${show(value)}, got ${show(actual)}`);
  }
  return problems;
}

function shapeProblems(shape: Expected['shape'], observed: Observed): string[] {
  switch (shape) {
    case undefined:
      return [];
    case 'empty':
      return observed.body === undefined ? [] : [`body: expected none, got ${show(observed.body)}`];
    case 'error': {
      const error = valueAt(observed.body, 'error');
      if (!isJsonObject(error) || typeof error.code !== 'string' || typeof error.message !== 'string') {
        return [`body: expected the contract error {"error": {"code", "message"}}, got ${show(observed.body)}`];
      }
      return [];
    }
    case 'listing': {
      const b = isJsonObject(observed.body) ? observed.body : {};
      const ok =
        typeof b.revision === 'number' &&
        Array.isArray(b.items) &&
        b.items.every((i: JsonValue) => isJsonObject(i) && typeof i.key === 'string' && typeof i.revision === 'number') &&
        Array.isArray(b.prefixes) &&
        typeof b.more === 'boolean' &&
        (b.more ? typeof b.cursor === 'string' : b.cursor === null);
      return ok ? [] : [`body: expected a listing page {"revision", "items", "prefixes", "more", "cursor"}, got ${show(observed.body)}`];
    }
    case 'changes': {
      const b = isJsonObject(observed.body) ? observed.body : {};
      const ok = typeof b.revision === 'number' && Array.isArray(b.changes) && typeof b.more === 'boolean';
      return ok ? [] : [`body: expected a watch answer {"revision", "changes", "more"}, got ${show(observed.body)}`];
    }
    case 'entry': {
      const problems = entryProblems(observed.body).map((p) => `body is not an entry: ${p}`);
      const revision = valueAt(observed.body, 'revision');
      const etag = observed.headers.etag;
      if (typeof revision === 'number' && etag !== `"${revision}"`) {
        problems.push(
          `header etag: expected "\\"${revision}\\"" (the entry's revision), got ${etag === undefined ? '(missing)' : JSON.stringify(etag)}`,
        );
      }
      return problems;
    }
  }
}

/** For a refused request, the store's own error code, so a 401 or 507 explains itself. */
function errorHint(body: JsonValue | undefined): string {
  const code = valueAt(body, 'error.code');
  const message = valueAt(body, 'error.message');
  return typeof code === 'string' ? ` (${code}${typeof message === 'string' ? `: ${message}` : ''})` : '';
}
