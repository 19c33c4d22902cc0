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

/** The value at a dotted path (`error.code`) of a JSON body, or undefined when it is not there. */
export function valueAt(body: JsonValue | undefined, path: string): JsonValue | undefined {
  let current: JsonValue | undefined = body;
  for (const name of path.split('.')) {
    if (!isJsonObject(current) || !Object.hasOwn(current, name)) return undefined;
    current = current[name];
  }
  return current;
}

/** A JSON value for a message: its JSON text, or `(missing)`. */
export function show(value: JsonValue | undefined): string {
  return value === undefined ? '(missing)' : JSON.stringify(value);
}
