import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CallOutcome, EtcdCalls } from '../src/store/etcd/etcd-calls.js';
import type { EtcdTxnResponse } from '../src/store/etcd/etcd-wire.js';
import type { EtcdTxnRequest } from '../src/store/etcd/etcd-txn.js';
import { WriteBatcher } from '../src/store/etcd/write-batcher.js';
import { StoreError } from '../src/store/store-error.js';

// The batcher's answers to etcd's refusals, which a real cluster gives only by chance (a refusal
// right after a try that went unanswered, limits set lower than the batcher's caps): etcd's calls
// are scripted here. How batches behave against a real etcd is in etcd-store.test.ts and
// etcd-quota.test.ts.

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** A create-only Txn of `key`, with a value of `size` bytes. */
function createTxn(key: string, size = 10): EtcdTxnRequest {
  return {
    compare: [{ key: b64(key), target: 'MOD', result: 'EQUAL', mod_revision: '0' }],
    success: [{ request_put: { key: b64(key), value: b64('x'.repeat(size)) } }],
    failure: [{ request_range: { key: b64(key) } }],
  };
}

interface Body {
  readonly success?: readonly { readonly request_txn?: EtcdTxnRequest }[];
}

/** Writes per call, in order: 1 for a write sent alone. */
function shapes(bodies: readonly Body[]): number[] {
  return bodies.map((body) =>
    body.success?.some((op) => op.request_txn !== undefined) ? body.success.filter((op) => op.request_txn).length : 1,
  );
}

/** EtcdCalls whose answer to each call is `script`'s; every body sent is kept. */
function scripted(script: (body: Body, outcome: CallOutcome, call: number) => Promise<EtcdTxnResponse>) {
  const bodies: Body[] = [];
  const calls = {
    timeoutMs: 10_000,
    send: (_path: string, body: Body, outcome: CallOutcome) => {
      bodies.push(body);
      return script(body, outcome, bodies.length);
    },
  };
  return { calls: calls as unknown as EtcdCalls, bodies };
}

const isBatch = (body: Body) => body.success?.some((op) => op.request_txn !== undefined) === true;
/** etcd's answer to `body` at `revision`: every write applied (a batch: each nested Txn's). */
function answered(body: Body, revision: number): EtcdTxnResponse {
  const header = { revision: String(revision) };
  if (!isBatch(body)) return { header, succeeded: true, responses: [] };
  const nested = (body.success ?? [])
    .filter((op) => op.request_txn !== undefined)
    .map(() => ({ response_txn: { succeeded: true, responses: [] } }));
  return { header, succeeded: true, responses: nested } as EtcdTxnResponse;
}
const marker = { key: 'kv/m/batch', value: 'node' };

/** EtcdCalls that hold each call until `release()` answers the oldest (every write applied, at revision 100 + the call's number). */
function held() {
  const waiting: Array<() => void> = [];
  const scriptedCalls = scripted(
    (body, _outcome, call) =>
      new Promise<EtcdTxnResponse>((resolve) => {
        waiting.push(() => resolve(answered(body, 100 + call)));
      }),
  );
  return { ...scriptedCalls, release: () => waiting.shift()?.() };
}

/** `n` turns of the event loop. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('the write batcher when etcd refuses a batch', () => {
  it('after a try that went unanswered: each write is sent again alone, and knows it may have been applied', async () => {
    const { calls, bodies } = scripted(async (body, outcome) => {
      if (!isBatch(body)) return { header: { revision: '9' }, succeeded: false, responses: [] };
      outcome.ambiguous = true;
      outcome.refused = true;
      throw new StoreError('insufficient_storage', { why: "etcd's storage quota is full" });
    });
    const batcher = new WriteBatcher(calls, marker);
    const outcomes: CallOutcome[] = [{ ambiguous: false }, { ambiguous: false }, { ambiguous: false }];
    const txns = ['a', 'b', 'c'].map((key) => createTxn(key));
    const answers = await Promise.all(txns.map((txn, i) => batcher.send(txn, outcomes[i] as CallOutcome)));
    expect(shapes(bodies)).toEqual([3, 1, 1, 1]);
    expect(bodies.slice(1)).toEqual(txns);
    expect(answers).toEqual([0, 1, 2].map(() => ({ header: { revision: '9' }, succeeded: false, responses: [] })));
    expect(outcomes).toEqual([0, 1, 2].map(() => ({ ambiguous: true })));
  });

  it('when the node closes meanwhile, its writes are not sent again: refused as not sent, or as maybe applied', async () => {
    let refuse: () => void = () => undefined;
    const { calls, bodies } = scripted(
      (_body, outcome, call) =>
        new Promise((_resolve, reject) => {
          refuse = () => {
            outcome.refused = true;
            if (call === 1) outcome.ambiguous = false;
            reject(new StoreError('insufficient_storage', { why: 'full' }));
          };
        }),
    );
    const batcher = new WriteBatcher(calls, marker);
    const sure: CallOutcome = { ambiguous: false };
    const unsure: CallOutcome = { ambiguous: true };
    const results = Promise.allSettled([batcher.send(createTxn('a'), sure), batcher.send(createTxn('b'), unsure)]);
    await expect.poll(() => bodies.length).toBe(1);
    batcher.close();
    refuse();
    const [a, b] = await results;
    expect(bodies).toHaveLength(1);
    expect(a).toMatchObject({
      status: 'rejected',
      reason: { reason: 'backend_unavailable', message: expect.stringContaining('was not sent') },
    });
    expect(b).toMatchObject({
      status: 'rejected',
      reason: { reason: 'backend_unavailable', message: expect.stringContaining('may have been applied') },
    });
    await expect(batcher.send(createTxn('c'), { ambiguous: false })).rejects.toMatchObject({
      message: expect.stringContaining('was not sent'),
    });
  });

  it('too many operations: the cap on writes is halved, and the next writes go in smaller batches', async () => {
    const { calls, bodies } = scripted(async (body, outcome, call) => {
      if (isBatch(body) && call === 1) {
        outcome.refused = true;
        throw new StoreError('too_many_ops', { why: 'too many operations in txn request' });
      }
      return answered(body, call);
    });
    const batcher = new WriteBatcher(calls, marker);
    const round = (prefix: string) =>
      Promise.all(['1', '2', '3', '4'].map((k) => batcher.send(createTxn(prefix + k), { ambiguous: false })));
    await round('a');
    expect(shapes(bodies)).toEqual([4, 1, 1, 1, 1]);
    await round('b');
    expect(shapes(bodies.slice(5))).toEqual([2, 2]);
  });

  it('a lowered cap holds for a minute, then doubles: batches grow back once etcd takes them', async () => {
    let limit = 2;
    let now = 1_000_000;
    const { calls, bodies } = scripted(async (body, outcome, call) => {
      if ((shapes([body])[0] as number) > limit) {
        outcome.refused = true;
        throw new StoreError('too_many_ops', { why: 'too many operations in txn request' });
      }
      return answered(body, call);
    });
    const batcher = new WriteBatcher(calls, marker, { now: () => now });
    const round = (prefix: string) =>
      Promise.all(['1', '2', '3', '4'].map((k) => batcher.send(createTxn(prefix + k), { ambiguous: false })));
    await round('a');
    await round('b');
    expect(shapes(bodies)).toEqual([4, 1, 1, 1, 1, 2, 2]);
    // The limit is raised (an operator restarted etcd with a larger --max-txn-ops); the cap
    // still holds until a minute is up, then doubles each minute.
    limit = 64;
    now += 59_999;
    await round('c');
    expect(shapes(bodies.slice(7))).toEqual([2, 2]);
    now += 1;
    await round('d');
    expect(shapes(bodies.slice(9))).toEqual([4]);
    const eight = () => Promise.all(Array.from({ length: 8 }, (_, k) => batcher.send(createTxn(`e${now}-${k}`), { ambiguous: false })));
    await eight();
    expect(shapes(bodies.slice(10))).toEqual([4, 4]);
    now += 60_000;
    await eight();
    expect(shapes(bodies.slice(12))).toEqual([8]);
  });

  it('too large together, each fitting alone: the cap on bytes is halved; one write too large alone leaves it', async () => {
    const tooLarge = 2000;
    const { calls, bodies } = scripted(async (body, outcome, call) => {
      const size = JSON.stringify(body).length;
      if (size > tooLarge || (isBatch(body) && call === 1)) {
        outcome.refused = true;
        throw new StoreError('value_too_large', { why: 'request is too large' });
      }
      return answered(body, call);
    });
    const batcher = new WriteBatcher(calls, marker);
    // Each write's value is 300 bytes (400 in base64): a batch of two is refused once, alone each fits.
    await Promise.all(['a', 'b'].map((key) => batcher.send(createTxn(key, 300), { ambiguous: false })));
    expect(shapes(bodies)).toEqual([2, 1, 1]);
    await Promise.all(['c', 'd'].map((key) => batcher.send(createTxn(key, 300), { ambiguous: false })));
    expect(shapes(bodies.slice(3))).toEqual([1, 1]);

    // A write too large even alone (4,000 bytes, 5,336 in base64, against 5,000) beside a small one:
    // halving the cap would split the next two writes of 1,500 bytes (2,000 each in base64).
    const { calls: calls2, bodies: bodies2 } = scripted(async (body, outcome, call) => {
      if (JSON.stringify(body).length > 5000) {
        outcome.refused = true;
        throw new StoreError('value_too_large', { why: 'request is too large' });
      }
      return answered(body, call);
    });
    const other = new WriteBatcher(calls2, marker);
    const first = await Promise.allSettled([
      other.send(createTxn('big', 4000), { ambiguous: false }),
      other.send(createTxn('e'), { ambiguous: false }),
    ]);
    expect(first.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
    expect(shapes(bodies2)).toEqual([2, 1, 1]);
    await Promise.all(['f', 'g'].map((key) => other.send(createTxn(key, 1500), { ambiguous: false })));
    expect(shapes(bodies2.slice(3))).toEqual([2]);
  });
});

describe('the write batcher under load', () => {
  it('a lone write goes at once and alone; the writes that arrive while it is with etcd go together next', async () => {
    const { calls, bodies, release } = held();
    const batcher = new WriteBatcher(calls, marker);
    const first = batcher.send(createTxn('a'), { ambiguous: false });
    await turns(1);
    expect(shapes(bodies)).toEqual([1]);

    // Five writes while the first is with etcd: none is sent until it comes back.
    const next = ['b', 'c', 'd', 'e', 'f'].map((key) => batcher.send(createTxn(key), { ambiguous: false }));
    await turns(1);
    expect(shapes(bodies)).toEqual([1]);

    release();
    expect((await first).header?.revision).toBe('101');
    await expect.poll(() => shapes(bodies)).toEqual([1, 5]);
    release();
    const answers = await Promise.all(next);
    expect(answers.map((a) => a.header?.revision)).toEqual(['102', '102', '102', '102', '102']);
  });
});

describe('the write batcher waits for the clients a batch answered', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const write = (batcher: WriteBatcher, key: string) => batcher.send(createTxn(key), { ambiguous: false });
  /** The keys of each call's writes, in order. */
  const keysOf = (bodies: readonly Body[]) =>
    bodies.map((body) =>
      (body.success ?? [])
        .flatMap((op) => (op.request_txn === undefined ? [] : [op.request_txn]))
        .map((txn) => Buffer.from(txn.compare[0]?.key ?? '', 'base64').toString()),
    );

  it('clients that write again once answered go in one batch with the writes queued meanwhile, not in a second one', async () => {
    for (const [waitMs, expected] of [
      [
        60_000,
        [
          ['a', 'b'],
          ['c', 'a2', 'b2'],
        ],
      ],
      [0, [['a', 'b'], [], ['a2', 'b2']]],
    ] as const) {
      const { calls, bodies, release } = held();
      const batcher = new WriteBatcher(calls, marker, { waitMs });
      // Two clients write at once, and each writes again as soon as it has its answer, which
      // takes two turns of the event loop (over a socket it would take a round trip).
      const clients = ['a', 'b'].map((key) =>
        write(batcher, key)
          .then(() => turns(2))
          .then(() => write(batcher, `${key}2`)),
      );
      await turns(2);
      // A third write arrives while their batch is with etcd.
      const third = write(batcher, 'c');
      await turns(2);
      expect(keysOf(bodies)).toEqual([['a', 'b']]);
      release();
      await turns(5);
      // Waiting: c waits for a2 and b2, and the three go together. Not waiting: c goes alone
      // (a batch of one is the write's own Txn), and a2 and b2 follow once it is back.
      expect(keysOf(bodies)).toEqual(expected.slice(0, 2));
      release();
      await turns(5);
      if (waitMs === 0) release();
      await Promise.all([...clients, third]);
      expect(keysOf(bodies)).toEqual(expected);
      batcher.close();
    }
  });

  it('waits no longer than waitMs for clients that do not write again', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { calls, bodies, release } = held();
    const batcher = new WriteBatcher(calls, marker, { waitMs: 5, now: () => 1_000 });
    const first = Promise.all(['a', 'b'].map((key) => write(batcher, key)));
    await turns(2);
    const third = write(batcher, 'c');
    release();
    await first;
    await turns(5);
    // c waits for two more writes that do not come, until the wait's 5 ms are up.
    expect(keysOf(bodies)).toEqual([['a', 'b']]);
    vi.advanceTimersByTime(4);
    await turns(5);
    expect(keysOf(bodies)).toEqual([['a', 'b']]);
    vi.advanceTimersByTime(1);
    await turns(5);
    expect(bodies).toHaveLength(2);
    expect(keysOf(bodies)[1]).toEqual([]); // c alone: its own Txn
    release();
    expect((await third).header?.revision).toBe('102');
  });

  it("does not wait once a batch's worth of writes is queued", async () => {
    const { calls, bodies, release } = held();
    const batcher = new WriteBatcher(calls, marker, { waitMs: 60_000 });
    const sizes = () => keysOf(bodies).map((keys) => keys.length);
    // 70 writes at once: 64 (the cap) go, 6 wait. When the 64 come back the next batch waits for
    // 64 more; 58 of those clients write again, so 64 are queued: a batch's worth, which goes.
    const clients = Array.from({ length: 70 }, (_, i) =>
      write(batcher, `k${i}`).then(() => (i < 58 ? write(batcher, `k${i}-again`) : undefined)),
    );
    await turns(2);
    expect(sizes()).toEqual([64]);
    release();
    await turns(5);
    expect(sizes()).toEqual([64, 64]);
    release();
    await Promise.all(clients);
    expect(sizes()).toEqual([64, 64]);
    batcher.close();
  });
});
