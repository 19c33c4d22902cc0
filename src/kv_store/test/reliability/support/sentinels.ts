import { randomBytes } from 'node:crypto';

/**
 * Sentinel keys: written before a hostile batch and checked after it. Their names carry a random
 * tag, so no generated request can name them; any change to one (value, version, revision,
 * timestamps) means a hostile request touched a key it never named.
 */
export interface Sentinels {
  readonly keys: readonly string[];
  /** The exact 201 body each create answered; a GET must answer the same bytes. */
  readonly bodies: ReadonlyMap<string, string>;
}

const VALUES = [
  '"plain"',
  '0',
  'null',
  '{"nested":{"list":[1,2,3],"unicode":"ключ ✓ 😀"}}',
  '[true,false,null,-0.5,1e21]',
  '"\\u0000 and \\ud83d\\ude00"',
  '{"__proto__":{"x":1}}',
  `"${'s'.repeat(500)}"`,
];

/** Creates the sentinels through the HTTP API and remembers what each create answered. */
export async function seedSentinels(baseUrl: string, auth?: string): Promise<Sentinels> {
  const tag = randomBytes(6).toString('hex');
  const keys = VALUES.map((_, i) =>
    i % 3 === 0 ? `sentinel-${tag}-${i}` : i % 3 === 1 ? `sentinel-${tag}/ключ/${i}` : `sentinel ${tag} ${i}`,
  );
  const bodies = new Map<string, string>();
  for (const [i, key] of keys.entries()) {
    const res = await fetch(`${baseUrl}/v1/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(auth === undefined ? {} : { authorization: `Bearer ${auth}` }) },
      body: `{"key":${JSON.stringify(key)},"value":${VALUES[i]}}`,
    });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`seeding sentinel ${key}: ${res.status} ${text}`);
    bodies.set(key, text);
  }
  return { keys, bodies };
}

/** Reads every sentinel over HTTP; returns the differences from what was seeded (empty if none). */
export async function sentinelChanges(baseUrl: string, sentinels: Sentinels, auth?: string): Promise<string[]> {
  const changes: string[] = [];
  for (const key of sentinels.keys) {
    const res = await fetch(`${baseUrl}/v1/${encodeURIComponent(key)}`, {
      headers: auth === undefined ? {} : { authorization: `Bearer ${auth}` },
    });
    const text = await res.text();
    const expected = sentinels.bodies.get(key);
    if (res.status !== 200 || text !== expected) changes.push(`${key}: expected 200 ${expected}, got ${res.status} ${text.slice(0, 300)}`);
  }
  return changes;
}
