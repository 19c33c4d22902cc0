import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A kv_store stand-in listening on a free port of 127.0.0.1, recording what it was asked. */
export interface FakeStore {
  readonly url: string;
  /** `METHOD /path` of every request received, in order. */
  readonly requests: string[];
  /** Keys it holds now. */
  keys(): string[];
  close(): Promise<void>;
}

/** Ways a store can be wrong; a fake with none keeps the contract well enough to pass both tests. */
export interface Faults {
  /** POST of a live key overwrites it and answers 201 as if it were new. */
  readonly postOverwrites?: boolean;
  /** DELETE answers 204 but the key stays. */
  readonly deleteKeeps?: boolean;
  /** PUT answers 200 with the entry it should have stored, but stores nothing. */
  readonly putForgets?: boolean;
  /** PUT and DELETE ignore If-Match. */
  readonly ignoresIfMatch?: boolean;
  /** A listing's later pages show the store as it is now, not at the first page's revision. */
  readonly listIgnoresRevision?: boolean;
  /** A cursor gives the first page again. */
  readonly listIgnoresCursor?: boolean;
  /** Watches leave deletes out. */
  readonly watchDropsDeletes?: boolean;
  /** An SSE watch ignores Last-Event-ID (it starts from `after`, or now). */
  readonly watchIgnoresLastEventId?: boolean;
  /**
   * POST /txn is not atomic: it applies the ops one by one, each at a revision of its own, and
   * stops at the first that fails, leaving the ones before it applied; its 409 still names the
   * failed op and the revision from before, as if nothing had happened.
   */
  readonly txnNotAtomic?: boolean;
}

interface Stored {
  readonly value: unknown;
  readonly version: number;
  readonly revision: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** Serves `handler` on port 0, recording every request. */
export async function startFakeServer(handler: RequestListener, keys: () => string[] = () => []): Promise<FakeStore> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    keys,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A change as a watch sends it. */
interface FakeChange {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly revision: number;
  readonly value?: unknown;
  readonly version?: number;
  readonly expiresAt?: null;
  readonly reason?: 'delete';
}

/** A small in-memory kv_store with the given faults built in (listing and watch included). */
export function startBrokenStore(faults: Faults = {}): Promise<FakeStore> {
  const entries = new Map<string, Stored>();
  let revision = 0;
  const log: FakeChange[] = [];
  const listeners = new Set<(change: FakeChange) => void>();
  /** The store at each revision a listing began at. */
  const snapshots = new Map<number, Map<string, Stored>>();

  const handler: RequestListener = (req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (req.method === 'GET' && url.searchParams.get('watch') === 'true') {
      watch(req, res, url);
      return;
    }
    readJson(req).then(
      (body) => send(res, answer(req, body)),
      () => send(res, error(400, 'invalid_json')),
    );
  };

  function changed(change: FakeChange): void {
    log.push(change);
    for (const listener of listeners) listener(change);
  }

  function list(url: URL): Reply {
    const params = url.searchParams;
    const prefix = params.get('prefix') ?? '';
    const limit = Number(params.get('limit') ?? '100');
    if (!(limit >= 1 && limit <= 1000)) return error(400, 'invalid_query');
    const delimiter = params.get('delimiter');
    const cursorText = params.get('cursor');
    params.delete('cursor');
    const query = params.toString();
    let at = revision;
    let after: string | undefined;
    if (cursorText !== null) {
      const cursor = JSON.parse(Buffer.from(cursorText, 'base64url').toString()) as { r: number; k: string; q: string };
      if (cursor.q !== query) return error(400, 'invalid_query');
      if (!faults.listIgnoresCursor) {
        at = cursor.r;
        after = cursor.k;
      }
    }
    if (!snapshots.has(at)) snapshots.set(at, new Map(entries));
    const state = faults.listIgnoresRevision ? entries : (snapshots.get(at) as Map<string, Stored>);
    const keys = [...state.keys()].filter((k) => k.startsWith(prefix)).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    const shown: Array<{ key: string } | { prefix: string }> = [];
    for (const key of keys) {
      const cut = delimiter === null ? -1 : key.indexOf(delimiter, prefix.length);
      const item = cut === -1 ? { key } : { prefix: key.slice(0, cut + (delimiter as string).length) };
      const last = shown.at(-1);
      if ('prefix' in item && last !== undefined && 'prefix' in last && last.prefix === item.prefix) continue;
      shown.push(item);
    }
    const from = after === undefined ? 0 : shown.findIndex((s) => ('key' in s ? s.key : s.prefix) === after) + 1;
    const page = shown.slice(from, from + limit);
    const more = from + limit < shown.length;
    const last = page.at(-1);
    const cursor =
      more && last !== undefined
        ? Buffer.from(JSON.stringify({ r: at, k: 'key' in last ? last.key : last.prefix, q: query })).toString('base64url')
        : null;
    const items = page.flatMap((s) => {
      if (!('key' in s)) return [];
      const e = state.get(s.key) as Stored;
      const item = {
        key: s.key,
        version: e.version,
        revision: e.revision,
        createdAt: e.createdAt,
        updatedAt: e.updatedAt,
        expiresAt: null,
        size: 1,
      };
      return [params.get('values') === 'true' ? { ...item, value: e.value } : item];
    });
    const prefixes = page.flatMap((s) => ('prefix' in s ? [s.prefix] : []));
    return {
      status: 200,
      body: { revision: at, items, prefixes, more, cursor, ...(params.get('count') === 'true' ? { count: keys.length } : {}) },
    };
  }

  function watch(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const key = decodeURIComponent(url.pathname.slice(4));
    const watched = (c: FakeChange) => (url.pathname === '/v1/' || c.key === key) && !(faults.watchDropsDeletes && c.type === 'delete');
    const lastEventId = faults.watchIgnoresLastEventId ? undefined : req.headers['last-event-id'];
    const after = Number(lastEventId ?? url.searchParams.get('after') ?? revision);
    const wait = url.searchParams.get('wait');
    if (wait !== null) {
      const found = log.filter((c) => c.revision > after && watched(c));
      const finish = (changes: FakeChange[]) => send(res, { status: 200, body: { revision, changes, more: false } });
      if (found.length > 0 || Number(wait) === 0) {
        finish(found);
        return;
      }
      const timer = setTimeout(() => {
        listeners.delete(listener);
        finish([]);
      }, Number(wait) * 1000);
      const listener = (c: FakeChange) => {
        if (!watched(c)) return;
        clearTimeout(timer);
        listeners.delete(listener);
        finish([c]);
      };
      listeners.add(listener);
      return;
    }
    if (req.headers.accept !== 'text/event-stream') {
      send(res, error(400, 'invalid_query'));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    const event = (c: FakeChange) =>
      `id: ${c.revision}\nevent: change\ndata: ${JSON.stringify({ revision: c.revision, changes: [c] })}\n\n`;
    res.write(
      `retry: 1000\n\n${log
        .filter((c) => c.revision > after && watched(c))
        .map(event)
        .join('')}`,
    );
    const listener = (c: FakeChange) => {
      if (watched(c)) res.write(event(c));
    };
    listeners.add(listener);
    res.on('close', () => listeners.delete(listener));
  }

  function answer(req: IncomingMessage, body: Record<string, unknown> | undefined): Reply {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/healthz') return { status: 200, body: { status: 'ok' } };
    if (path === '/v1/' && req.method === 'GET') return list(new URL(req.url ?? '/', 'http://fake'));
    if (path === '/txn' && req.method === 'POST') return txn(body);
    if (path === '/v1/' && req.method === 'POST') {
      const key = String(body?.key);
      if (entries.has(key) && !faults.postOverwrites) return error(409, 'key_exists');
      return entryReply(201, key, write(key, body?.value, undefined), { location: `/v1/${encodeURIComponent(key)}` });
    }
    if (!path.startsWith('/v1/')) return error(404, 'not_found');
    const key = decodeURIComponent(path.slice(4));
    const existing = entries.get(key);
    if (existing === undefined) return error(404, 'key_not_found');
    const ifMatch = req.headers['if-match'];
    if ((req.method === 'PUT' || req.method === 'DELETE') && ifMatch !== undefined && !faults.ignoresIfMatch) {
      if (ifMatch !== `"${existing.revision}"`) return error(412, 'version_mismatch');
    }
    switch (req.method) {
      case 'GET':
        return entryReply(200, key, existing);
      case 'PUT':
        if (faults.putForgets) {
          return entryReply(200, key, { ...existing, value: body?.value, version: existing.version + 1, revision: ++revision });
        }
        return entryReply(200, key, write(key, body?.value, existing));
      case 'DELETE':
        revision++;
        if (!faults.deleteKeeps) entries.delete(key);
        changed({ type: 'delete', key, revision, reason: 'delete' });
        return { status: 204 };
      default:
        return error(405, 'method_not_allowed');
    }
  }

  /**
   * POST /txn: checks on the state before, then ops in order, each seeing the ones before it.
   * Atomic: the ops run on an overlay that is committed under one revision only when none
   * failed. With txnNotAtomic, straight on the store (see Faults).
   */
  function txn(body: Record<string, unknown> | undefined): Reply {
    const checks = (body?.checks ?? []) as Array<Record<string, unknown>>;
    const ops = (body?.ops ?? []) as Array<Record<string, unknown>>;
    const before = revision;
    const failures: unknown[] = [];
    const facts = (e: Stored | undefined) => ({ exists: e !== undefined, version: e?.version ?? 0, revision: e?.revision ?? 0 });
    for (const [index, check] of checks.entries()) {
      const { key, ...expected } = check;
      const entry = entries.get(String(key));
      const actual: Record<string, unknown> = { ...facts(entry), value: entry?.value ?? null };
      const held = Object.entries(expected).every(([name, want]) => JSON.stringify(want) === JSON.stringify(actual[name]));
      if (!held) failures.push({ type: 'check', index, key, expected, actual: pick(actual, Object.keys(expected)) });
    }
    if (failures.length > 0) return txnFailed(before, failures);

    const atomic = !faults.txnNotAtomic;
    const next = revision + 1;
    /** The atomic transaction's writes so far (null: deleted), in the order first touched. */
    const overlay = new Map<string, Stored | null>();
    const read = (key: string): Stored | undefined => (overlay.has(key) ? (overlay.get(key) ?? undefined) : entries.get(key));
    const put = (key: string, value: unknown): Stored => {
      if (!atomic) return write(key, value, entries.get(key));
      const previous = read(key);
      const now = new Date().toISOString();
      const entry = { value, version: (previous?.version ?? 0) + 1, revision: next, createdAt: previous?.createdAt ?? now, updatedAt: now };
      overlay.set(key, entry);
      return entry;
    };
    const remove = (key: string): void => {
      if (atomic) overlay.set(key, null);
      else {
        entries.delete(key);
        changed({ type: 'delete', key, revision: ++revision, reason: 'delete' });
      }
    };
    const results: unknown[] = [];
    for (const [index, op] of ops.entries()) {
      const key = String(op.key);
      const current = read(key);
      const fail = (expected: unknown) => failures.push({ type: 'op', index, key, expected, actual: facts(current) });
      switch (op.op) {
        case 'create':
        case 'replace':
        case 'set':
          if ((op.op === 'create' && current !== undefined) || (op.op === 'replace' && current === undefined)) {
            fail({ exists: op.op === 'replace' });
            break;
          }
          results.push(asEntry(key, put(key, op.value)));
          break;
        case 'delete':
          if (current === undefined) {
            fail({ exists: true });
            break;
          }
          remove(key);
          results.push({ deleted: 1 });
          break;
        case 'deletePrefix': {
          const keys = [...new Set([...entries.keys(), ...overlay.keys()])].filter((k) => k.startsWith(String(op.prefix)) && read(k));
          for (const k of keys) remove(k);
          results.push({ deleted: keys.length });
          break;
        }
        case 'incr': {
          const value = current?.value ?? 0;
          if (typeof value !== 'number') {
            fail({ value: 'a number' });
            break;
          }
          results.push(asEntry(key, put(key, value + Number(op.by ?? 1))));
          break;
        }
        case 'get':
          results.push(current === undefined ? null : asEntry(key, current));
          break;
        default:
          return error(400, 'invalid_body');
      }
      if (failures.length > 0 && !atomic) return txnFailed(before, failures);
    }
    if (failures.length > 0) return txnFailed(before, failures);
    if (overlay.size > 0) {
      revision = next;
      for (const [key, entry] of overlay) {
        if (entry === null) {
          entries.delete(key);
          changed({ type: 'delete', key, revision, reason: 'delete' });
        } else {
          entries.set(key, entry);
          changed({ type: 'put', key, value: entry.value, version: entry.version, revision, expiresAt: null });
        }
      }
    }
    return { status: 200, body: { succeeded: true, revision, results } };
  }

  function write(key: string, value: unknown, previous: Stored | undefined): Stored {
    const now = new Date().toISOString();
    const entry: Stored = {
      value,
      version: (previous?.version ?? 0) + 1,
      revision: ++revision,
      createdAt: previous?.createdAt ?? now,
      updatedAt: now,
    };
    entries.set(key, entry);
    changed({ type: 'put', key, value, version: entry.version, revision: entry.revision, expiresAt: null });
    return entry;
  }

  return startFakeServer(handler, () => [...entries.keys()]);
}

/** A store that answers every request with the same status, content type and body text. */
export function startFixedStore(status: number, contentType: string, text: string): Promise<FakeStore> {
  return startFakeServer((_req, res) => {
    res.writeHead(status, { 'content-type': contentType });
    res.end(text);
  });
}

/** A store that accepts connections but never answers. */
export function startSilentStore(): Promise<FakeStore> {
  return startFakeServer(() => {
    // Never answers: the caller's timeout has to end the wait.
  });
}

interface Reply {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

function asEntry(key: string, entry: Stored): Record<string, unknown> {
  return { key, ...entry, expiresAt: null };
}

function entryReply(status: number, key: string, entry: Stored, headers: Record<string, string> = {}): Reply {
  return { status, body: asEntry(key, entry), headers: { etag: `"${entry.revision}"`, ...headers } };
}

function txnFailed(revision: number, failures: unknown[]): Reply {
  const message = 'fake store: the transaction was not applied';
  return { status: 409, body: { error: { code: 'txn_failed', message }, succeeded: false, revision, failures } };
}

function pick(object: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(names.map((name) => [name, object[name]]));
}

function error(status: number, code: string): Reply {
  return { status, body: { error: { code, message: `fake store: ${code}` } } };
}

function send(res: ServerResponse, reply: Reply): void {
  if (reply.body === undefined) {
    res.writeHead(reply.status, reply.headers);
    res.end();
    return;
  }
  res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
  res.end(JSON.stringify(reply.body));
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
}
