import { isJsonObject, type JsonValue } from '@kv/client';

/** True when two JSON values are the same value (object member order does not matter). */
export function jsonEqual(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item: JsonValue, i: number) => jsonEqual(item, b[i] as JsonValue));
  }
  if (!isJsonObject(a) || !isJsonObject(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
}

/**
 * The value at a dotted path of a JSON body (`error.code`), or undefined when it is not there. A
 * number picks an array element (`items.0.key`); `*` maps the rest of the path over an array
 * (`items.*.key`: every item's key).
 */
export function valueAt(body: JsonValue | undefined, path: string): JsonValue | undefined {
  return walk(body, path.split('.'));
}

function walk(current: JsonValue | undefined, names: readonly string[]): JsonValue | undefined {
  const [name, ...rest] = names;
  if (name === undefined) return current;
  if (Array.isArray(current)) {
    if (name === '*') {
      const values = current.map((item: JsonValue) => walk(item, rest));
      return values.every((v) => v !== undefined) ? (values as JsonValue[]) : undefined;
    }
    return /^\d+$/.test(name) && Number(name) < current.length ? walk(current[Number(name)] as JsonValue, rest) : undefined;
  }
  if (!isJsonObject(current) || !Object.hasOwn(current, name)) return undefined;
  return walk(current[name], rest);
}

/** A JSON value for a message: its JSON text, or `(missing)`. */
export function show(value: JsonValue | undefined): string {
  return value === undefined ? '(missing)' : JSON.stringify(value);
}
