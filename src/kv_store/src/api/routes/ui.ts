import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { emptyAnswer, typedAnswer } from '../answers.js';
import type { ApiContext } from '../context.js';
import type { Answer } from '../door.js';
import { HttpError } from '../errors.js';
import type { Route } from '../router.js';

/** Content types of the files a UI build holds. */
const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The page may load only its own files and call only its own origin; CodeMirror needs inline
 * styles, and its lint gutter draws data: images.
 */
const CSP =
  "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Every file of the build by its path under /ui/, as the answer that serves it; read once at start-up. */
function readBuild(dir: string): Map<string, Answer> {
  const files = new Map<string, Answer>();
  const walk = (at: string): void => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else {
        const rel = relative(dir, path).split(sep).join('/');
        // Content-hashed assets never change; the page and its icon are checked each time.
        const cache = rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
        const headers = ['Cache-Control', cache, 'X-Content-Type-Options', 'nosniff', 'Content-Security-Policy', CSP];
        files.set(rel, typedAnswer(200, TYPES[extname(name)] ?? 'application/octet-stream', readFileSync(path), headers));
      }
    }
  };
  walk(dir);
  return files;
}

/**
 * `/ui/`: the web UI, served from its build (KV_UI_DIR), only exact file paths (nothing outside
 * the build can be named), open to all: every data call it makes needs the token. Off with
 * KV_UI=off, and then /ui/ is 404 not_found like any unknown path.
 */
export function uiRoutes({ config }: ApiContext): Route[] {
  if (!config.ui) return [];
  let files: Map<string, Answer> | undefined;
  try {
    files = readBuild(config.uiDir);
  } catch {
    files = undefined; // not built: answered below
  }
  const serve = (rel: string): Answer => {
    if (files === undefined) throw new HttpError('not_found', `the web UI is not built in ${config.uiDir} (run make build)`);
    const file = files.get(rel);
    if (file === undefined) throw new HttpError('not_found', `no file '/ui/${rel}' in the web UI`);
    return file;
  };
  return [
    { method: 'GET', path: '/ui', access: 'open', handle: () => emptyAnswer(308, ['Location', '/ui/']) },
    { method: 'GET', path: '/ui/', access: 'open', handle: () => serve('index.html') },
    { method: 'GET', path: '/ui/*', access: 'open', rest: 'path', handle: (request) => serve(request.rest) },
  ];
}
