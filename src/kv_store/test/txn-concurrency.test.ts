import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { listen } from './helpers.js';

/**
 * Transactions under concurrency over real sockets (issue 11): many clients at once, each a
 * bounded number of times (the verdicts count what was acknowledged, not how fast it went).
 */

const CLIENTS = 50;

async function start(): Promise<string> {
  const app = buildApp({ config: loadConfig({ KV_LOG_LEVEL: 'silent' }) });
  return listen(app);
}

async function txn(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/txn`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('transactions under concurrency, over real sockets', () => {
  it('50 clients incrementing one counter: the final count is exactly the acknowledged increments', async () => {
    const url = await start();
    const PER_CLIENT = 20;
    let acknowledged = 0;
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        for (let i = 0; i < PER_CLIENT; i++) {
          const res = await txn(url, { ops: [{ op: 'incr', key: 'counter' }] });
          expect(res.status).toBe(200);
          acknowledged++;
        }
      }),
    );
    const read = await fetch(`${url}/v1/counter`);
    const entry = (await read.json()) as { value: number; version: number };
    console.info(`txn concurrency: ${acknowledged} increments acknowledged by ${CLIENTS} clients; counter = ${entry.value}`);
    expect(acknowledged).toBe(CLIENTS * PER_CLIENT);
    expect({ value: entry.value, version: entry.version }).toEqual({ value: acknowledged, version: acknowledged });
  });

  it('50 clients moving one token between two keys with compare-and-swap: it exists exactly once at every listing', async () => {
    const url = await start();
    await txn(url, { ops: [{ op: 'create', key: 'token/a', value: 'token' }] });
    const ATTEMPTS = 10;
    let moves = 0;
    let conflicts = 0;
    let done = false;
    const listings: number[] = [];
    const lister = (async () => {
      while (!done) {
        const page = (await (await fetch(`${url}/v1/?prefix=token%2F`)).json()) as { items: { key: string }[] };
        listings.push(page.items.length);
      }
    })();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        for (let i = 0; i < ATTEMPTS; i++) {
          // Read where the token is, then move it only if it is still there at that revision.
          const page = (await (await fetch(`${url}/v1/?prefix=token%2F`)).json()) as { items: { key: string; revision: number }[] };
          const from = page.items[0];
          expect(page.items).toHaveLength(1);
          if (from === undefined) continue;
          const to = from.key === 'token/a' ? 'token/b' : 'token/a';
          const res = await txn(url, {
            checks: [{ key: from.key, revision: from.revision }],
            ops: [
              { op: 'delete', key: from.key },
              { op: 'create', key: to, value: 'token' },
            ],
          });
          if (res.status === 200) moves++;
          else {
            expect(res.status).toBe(409);
            expect(res.body.succeeded).toBe(false);
            conflicts++;
          }
        }
      }),
    );
    done = true;
    await lister;
    console.info(
      `txn concurrency: ${moves} moves and ${conflicts} refused (409) compare-and-swaps; ${listings.length} listings, each holding the token once`,
    );
    expect(moves + conflicts).toBe(CLIENTS * ATTEMPTS);
    expect(moves).toBeGreaterThan(0);
    expect(listings.length).toBeGreaterThan(0);
    expect(listings.every((n) => n === 1)).toBe(true);
    // Where it ends up says how many moves there were: an even number leaves it at a.
    const final = (await (await fetch(`${url}/v1/?prefix=token%2F`)).json()) as { items: { key: string }[] };
    expect(final.items.map((i) => i.key)).toEqual([moves % 2 === 0 ? 'token/a' : 'token/b']);
  });
});
