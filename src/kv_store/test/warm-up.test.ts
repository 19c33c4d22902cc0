import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { warmUp } from '../src/warm-up.js';

describe('warmUp', () => {
  it('sends every kind of request to a scratch server and gets the status each is meant to get; its TTL keys expire and are swept', async () => {
    const result = await warmUp(loadConfig({}), 300);
    // Each round: 12 creates (201); 8 reads, 4 overwrites, a listing and a transaction (200);
    // 3 deletes (204); a missing key (404), a create of an existing key (409), a stale If-Match
    // (412). Nothing else, and no 5xx.
    const rounds = result.statuses[404] as number;
    expect(rounds).toBeGreaterThan(0);
    expect(result.statuses).toEqual({ 200: 14 * rounds, 201: 12 * rounds, 204: 3 * rounds, 404: rounds, 409: rounds, 412: rounds });
    expect(result.requests).toBe(32 * rounds);
    // Keys 0, 3, 6 and 9 are created with a TTL, 2 gets one from its overwrite, 3 loses it in
    // its own, 9 is deleted: 3 keys a round expire when the clock moves a day on.
    expect(result.expired).toBe(3 * rounds);
  });

  it("keeps the real store's limits but not its connection cap: with KV_MAX_KEYS=5 and KV_MAX_CONNECTIONS=1 it still runs, and is refused creates past the limit", async () => {
    const result = await warmUp(loadConfig({ KV_MAX_KEYS: '5', KV_MAX_CONNECTIONS: '1' }), 200);
    expect(result.statuses[507]).toBeGreaterThan(0);
    expect(result.statuses[201]).toBeGreaterThan(0);
    expect(Object.keys(result.statuses).every((status) => Number(status) < 500 || status === '507')).toBe(true);
  });

  it('sends nothing when aborted before it starts, and closes its scratch server', async () => {
    const abort = new AbortController();
    abort.abort();
    const result = await warmUp(loadConfig({}), 10_000, abort.signal);
    expect(result).toMatchObject({ statuses: {}, requests: 0, expired: 0 });
    expect(result.ms).toBeLessThan(10_000);
  });
});
