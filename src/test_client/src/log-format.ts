const LEVELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** Fields every pino line has, which the readable line shows in its own way or leaves out. */
const FRAME = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name', 'service', 'v']);

type Line = Readonly<Record<string, unknown>>;

/**
 * Turns one pino JSON line into one line for people, e.g.
 * `2026-11-27 10:00:00.123 INFO  1b2c3d4e test_overwrite POST http://kv_store:8080/v1/ -> 201 (3ms)`.
 * Anything that is not a JSON object is returned unchanged.
 */
export function formatLogLine(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return text;
  const line = parsed as Line;
  const head = `${time(line.time)} ${level(line.level)}`;
  const run = typeof line.runId === 'string' ? line.runId.slice(0, 8) : '';
  const test = str(line.test);
  const took = typeof line.durationMs === 'number' ? ` (${line.durationMs}ms)` : '';
  switch (line.msg) {
    case 'kv_store call':
    case 'kv_store call failed': {
      const error = line.error === undefined ? '' : ` ${str(line.error)}`;
      return `${head} ${run} ${test} ${str(line.method)} ${str(line.url)} -> ${line.status === null ? 'no answer' : str(line.status)}${took}${error}`;
    }
    case 'test result': {
      const error = line.error === undefined ? '' : ` - ${str(line.error)}`;
      return `${head} ${run} ${test} => ${str(line.status).toUpperCase()}${took}${error}`;
    }
    case 'step did not hold': {
      const problems = Array.isArray(line.problems) ? line.problems.map(str).join('; ') : '';
      return `${head} ${run} ${test} step '${str(line.step)}' did not hold: ${problems}`;
    }
    case 'request':
      return `${head} served ${str(line.method)} ${str(line.url)} -> ${str(line.status)}${took}`;
    default:
      return `${head} ${str(line.msg)}${rest(line)}`;
  }
}

function time(value: unknown): string {
  if (typeof value !== 'number') return '-';
  return new Date(value).toISOString().replace('T', ' ').replace('Z', '');
}

function level(value: unknown): string {
  return (typeof value === 'number' ? (LEVELS[value] ?? String(value)) : '-').padEnd(5);
}

function str(value: unknown): string {
  if (value === undefined) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The other fields, as ` name=value`. */
function rest(line: Line): string {
  let out = '';
  for (const [name, value] of Object.entries(line)) {
    if (!FRAME.has(name)) out += ` ${name}=${str(value)}`;
  }
  return out;
}
