import { describe, expect, it } from 'vitest';
import { entry, listen, testApp } from './helpers.js';

describe('concurrent writes over a real socket', () => {
  it('50 concurrent POSTs of one key give exactly one 201 and 49 409s, and the 201 value is the one stored', async () => {
    const t = testApp();
    const base = await listen(t.app);
    const answers = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const res = await fetch(`${base}/v1/`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ key: 'race', value: { writer: i } }),
        });
        return { i, status: res.status, body: (await res.json()) as Record<string, unknown> };
      }),
    );
    const winners = answers.filter((a) => a.status === 201);
    const losers = answers.filter((a) => a.status === 409);
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(49);
    const winner = winners[0]!;
    expect(winner.body).toEqual(entry({ key: 'race', value: { writer: winner.i }, version: 1, revision: 1 }));
    for (const loser of losers) {
      expect(loser.body).toEqual({
        error: { code: 'key_exists', message: "key 'race' already exists; use PUT /v1/race to overwrite it" },
      });
    }
    const stored = await fetch(`${base}/v1/race`);
    expect(stored.status).toBe(200);
    expect(await stored.json()).toEqual(winner.body);
  });

  it('50 concurrent PUTs with the same If-Match give exactly one 200 and 49 412s', async () => {
    const t = testApp();
    const base = await listen(t.app);
    await fetch(`${base}/v1/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"key":"cas","value":0}' });
    const answers = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const res = await fetch(`${base}/v1/cas`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json', 'if-match': '"1"' },
          body: JSON.stringify({ value: i }),
        });
        return { i, status: res.status, body: (await res.json()) as Record<string, unknown> };
      }),
    );
    const winners = answers.filter((a) => a.status === 200);
    expect(winners).toHaveLength(1);
    expect(answers.filter((a) => a.status === 412)).toHaveLength(49);
    const winner = winners[0]!;
    expect(winner.body).toEqual(entry({ key: 'cas', value: winner.i, version: 2, revision: 2 }));
    expect(await (await fetch(`${base}/v1/cas`)).json()).toEqual(winner.body);
  });
});
