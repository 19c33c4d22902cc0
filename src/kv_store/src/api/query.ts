import { HttpError } from './errors.js';

/*
 * Query strings of listings and watches: `name=value` pairs joined by `&`, each part
 * percent-decoded as UTF-8 (RFC 3986: `+` is a plus sign, not a space; a space is %20). Every
 * refusal is 400 invalid_query naming the parameter.
 */

/** The parameters of a query string, by name. */
export class QueryParams {
  private constructor(private readonly params: ReadonlyMap<string, string>) {}

  /** Parses `query` (without its `?`); a parameter given twice, or malformed percent-encoding, is invalid_query. */
  static parse(query: string): QueryParams {
    const params = new Map<string, string>();
    if (query === '') return new QueryParams(params);
    for (const part of query.split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const name = decode(eq === -1 ? part : part.slice(0, eq), 'a parameter name');
      const value = eq === -1 ? '' : decode(part.slice(eq + 1), `parameter '${name}'`);
      if (params.has(name)) throw invalidQuery(`parameter '${name}' is given more than once`);
      params.set(name, value);
    }
    return new QueryParams(params);
  }

  has(name: string): boolean {
    return this.params.has(name);
  }

  /** The parameters given, in order. */
  names(): string[] {
    return [...this.params.keys()];
  }

  /** The value of `name`, or undefined when it is not given. */
  string(name: string): string | undefined {
    return this.params.get(name);
  }

  /** `true` or `false` (or `fallback` when absent); anything else is invalid_query. */
  boolean(name: string, fallback: boolean): boolean {
    const value = this.params.get(name);
    if (value === undefined) return fallback;
    if (value === 'true') return true;
    if (value === 'false') return false;
    throw invalidQuery(`parameter '${name}' must be true or false, got '${value}'`);
  }

  /** A whole number from `min` to `max` in decimal digits (or `fallback` when absent); anything else is invalid_query. */
  integer(name: string, fallback: number | undefined, min: number, max: number): number | undefined {
    const value = this.params.get(name);
    if (value === undefined) return fallback;
    const n = /^\d{1,16}$/.test(value) ? Number(value) : Number.NaN;
    if (!(n >= min && n <= max)) throw invalidQuery(`parameter '${name}' must be a whole number from ${min} to ${max}, got '${value}'`);
    return n;
  }

  /** A number of seconds from 0 to `max`, decimals allowed (or undefined when absent); anything else is invalid_query. */
  seconds(name: string, max: number): number | undefined {
    const value = this.params.get(name);
    if (value === undefined) return undefined;
    const n = /^\d{1,6}(\.\d{1,3})?$/.test(value) ? Number(value) : Number.NaN;
    if (!(n >= 0 && n <= max)) throw invalidQuery(`parameter '${name}' must be a number of seconds from 0 to ${max}, got '${value}'`);
    return n;
  }

  /** Refuses any parameter not in `allowed`, saying what `what` takes. */
  only(allowed: readonly string[], what: string): void {
    for (const name of this.params.keys()) {
      if (!allowed.includes(name)) throw invalidQuery(`unknown parameter '${name}' for ${what}; it takes ${allowed.join(', ')}`);
    }
  }
}

/** 400 invalid_query with `message`. */
export function invalidQuery(message: string): HttpError {
  return new HttpError('invalid_query', message);
}

function decode(text: string, what: string): string {
  if (text.indexOf('%') === -1) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    throw invalidQuery(`${what} has malformed percent-encoding or is not valid UTF-8`);
  }
}
