// Real kv_store processes (`node dist/kv_store.js`, KV_BACKEND=etcd) on one etcd cluster, and a small
// HTTP helper to talk to them. Each node lists the members in a different order, so the nodes'
// watches and first tries go to different members.
import { setTimeout as sleep } from 'node:timers/promises';
import { type KvProcess, startKvStore } from '../reliability/support/kv-process.js';
import type { EtcdCluster } from './etcd-cluster.js';

/** An answer as the tests read it. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  /** The body parsed as JSON (undefined when empty). */
  readonly body: unknown;
}

/** One request to `base`; a body other than a string is sent as JSON. */
export async function http(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  const init: RequestInit = { method, headers: { ...headers }, signal: AbortSignal.timeout(20_000) };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const response = await fetch(base + path, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}

/** Starts `count` kv_store nodes on `cluster` under `prefix`; resolves once each answers for the store (not 503). */
export async function startEtcdNodes(
  cluster: EtcdCluster,
  count: number,
  prefix: string,
  env: Readonly<Record<string, string>> = {},
): Promise<KvProcess[]> {
  const nodes: KvProcess[] = [];
  for (let i = 0; i < count; i++) {
    const endpoints = cluster.endpoints.map((_, j) => cluster.endpoints[(i + j) % cluster.endpoints.length]);
    nodes.push(await startKvStore({ KV_BACKEND: 'etcd', KV_ETCD_ENDPOINTS: endpoints.join(','), KV_ETCD_PREFIX: prefix, ...env }));
  }
  await Promise.all(nodes.map((node) => untilServing(node.baseUrl)));
  return nodes;
}

/** Waits until the node answers a read for the store (404 for a key nobody writes), not 503 (hang guard: 20 s). */
export async function untilServing(base: string, withinMs = 20_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const answer = await http(base, 'GET', '/v1/.serving-probe');
      if (answer.status === 404) return;
      last = `${answer.status} ${JSON.stringify(answer.body)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(50);
  }
  throw new Error(`${base} does not serve the store: ${last}`);
}
