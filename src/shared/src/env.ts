/**
 * Reading configuration from the environment, once, at start-up: each reader validates one
 * variable and throws ConfigError with a message that names it. Shared by kv_store, test_client
 * and kvctl.
 */

/** A configuration value that cannot be used; the message names the variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The environment, as process.env or a test's object. */
export type Env = Readonly<Record<string, string | undefined>>;

/** The levels a *_LOG_LEVEL variable accepts (pino's). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** A pino log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The trimmed value of `name`, or undefined when it is unset or blank. */
export function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** A whole number from `min` to `max`; `fallback` when unset. */
export function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new ConfigError(`${name} must be a whole number, got '${value}'`);
  const n = Number(value);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return n;
}

/** A host name or IP address to listen on. */
export function host(env: Env, name: string, fallback: string): string {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!/^[A-Za-z0-9.:_-]+$/.test(value)) throw new ConfigError(`${name} must be a host name or IP address, got '${value}'`);
  return value;
}

/** A bearer token: printable ASCII without spaces, at least `minLength` long. Never echoed in a message. */
export function token(env: Env, name: string, minLength = 1): string | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  if (!/^[\x21-\x7e]+$/.test(value)) throw new ConfigError(`${name} must be printable ASCII without spaces`);
  if (value.length < minLength) throw new ConfigError(`${name} must be at least ${minLength} characters long`);
  return value;
}

/** One of `allowed`; `fallback` when unset. */
export function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got '${value}'`);
  }
  return value as T;
}

/**
 * An http:// or https:// base URL without credentials, query or fragment, returned without a
 * trailing slash; `tokenVariable` is where the message sends credentials instead.
 */
export function baseUrl(env: Env, name: string, fallback: string, tokenVariable: string): string {
  const value = raw(env, name) ?? fallback;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name} must be a URL such as http://127.0.0.1:8080, got '${value}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an http:// or https:// URL, got '${value}'`);
  }
  // Credentials in the URL would end up in every log line; tokens have their own variables.
  if (url.username !== '' || url.password !== '') {
    throw new ConfigError(`${name} must not contain credentials; set ${tokenVariable} instead`);
  }
  if (url.search !== '' || url.hash !== '') throw new ConfigError(`${name} must not have a query or fragment, got '${value}'`);
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

/**
 * Warnings for variables that look like ours but are not known (a typo such as KV_PROT is
 * otherwise ignored in silence): each names the closest known variable.
 */
export function unknownVariables(env: Env, prefixes: readonly string[], known: readonly string[]): string[] {
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!prefixes.some((p) => name.startsWith(p)) || known.includes(name)) continue;
    let best = '';
    let bestDistance = Number.POSITIVE_INFINITY;
    for (const candidate of known) {
      const d = editDistance(name, candidate);
      if (d < bestDistance) {
        best = candidate;
        bestDistance = d;
      }
    }
    warnings.push(
      bestDistance <= Math.max(2, Math.floor(name.length / 4))
        ? `${name} is not a known variable and is ignored; did you mean ${best}?`
        : `${name} is not a known variable and is ignored`,
    );
  }
  return warnings;
}

/** Levenshtein distance (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + cost);
    }
    previous = current;
  }
  return previous[b.length] as number;
}
