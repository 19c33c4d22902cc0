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

/** A small in-memory kv_store with the given faults built in. */
export function startBrokenStore(faults: Faults = {}): Promise<FakeStore> {
  const entries = new Map<string, Stored>();
  let revision = 0;

  const handler: RequestListener = (req, res) => {
    readJson(req).then(
      (body) => send(res, answer(req, body)),
      () => send(res, error(400, 'invalid_json')),
    );
  };

  function answer(req: IncomingMessage, body: Record<string, unknown> | undefined): Reply {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/healthz') return { status: 200, body: { status: 'ok' } };
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
        return { status: 204 };
      default:
        return error(405, 'method_not_allowed');
    }
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

function entryReply(status: number, key: string, entry: Stored, headers: Record<string, string> = {}): Reply {
  return { status, body: { key, ...entry, expiresAt: null }, headers: { etag: `"${entry.revision}"`, ...headers } };
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
