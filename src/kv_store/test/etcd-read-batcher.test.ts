import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EtcdCalls } from '../src/store/etcd/etcd-calls.js';
import { ReadBatcher } from '../src/store/etcd/read-batcher.js';
import type { EtcdRangeResponse, EtcdTxnResponse } from '../src/store/etcd/etcd-wire.js';
import { StoreError } from '../src/store/store-error.js';

// The read batcher's queue, with etcd's calls scripted and held until the test lets them answer.
// Against a real etcd: etcd-store.test.ts ("consistent reads made at the same moment").

interface Sent {
  readonly path: string;
  readonly body: { key?: string; success?: { request_range: { key: string } }[] };
  readonly answer: (value: unknown) => void;
  readonly fail: (err: unknown) => void;
}

function held() {
  const sent: Sent[] = [];
  const calls = {
    timeoutMs: 10_000,
    send: (path: string, body: Sent['body']) =>
      new Promise((answer, fail) => {
        sent.push({ path, body, answer, fail });
      }),
  };
  return { calls: calls as unknown as EtcdCalls, sent };
}

/** The keys of each call sent: a range's one key, or a Txn's ranges' keys in order. */
function keysOf(sent: readonly Sent[]): string[][] {
  return sent.map((s) => (s.body.key !== undefined ? [s.body.key] : (s.body.success ?? []).map((op) => op.request_range.key)));
}

/** Answers the oldest call not yet answered: each key found, at revision 100 + the call's number. */
function answerNext(sent: readonly Sent[], answeredSoFar: { n: number }): void {
  const call = sent[answeredSoFar.n];
  if (call === undefined) throw new Error('no call to answer');
  const header = { revision: String(100 + answeredSoFar.n) };
  answeredSoFar.n++;
  if (call.body.key !== undefined) {
    call.answer({ header, kvs: [kv(call.body.key)], count: '1' });
    return;
  }
  const ranges = (call.body.success ?? []).map((op) => ({ response_range: { kvs: [kv(op.request_range.key)], count: '1' } }));
  call.answer({ header, succeeded: true, responses: ranges });
}

/** `n` turns of the event loop. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await turn();
}

const kv = (key: string) => ({ key, value: `v-${key}`, mod_revision: '7', create_revision: '7', version: '1' });
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('the read batcher', () => {
  it('a lone read goes at once as a range; the reads made while it is with etcd go next, as one Txn of ranges in order', async () => {
    const { calls, sent } = held();
    const reads = new ReadBatcher(calls);
    const first = reads.read('a');
    await turn();
    expect(sent.map((s) => [s.path, s.body])).toEqual([['/v3/kv/range', { key: 'a' }]]);

    const next = ['b', 'c', 'd'].map((key) => reads.read(key));
    await turn();
    expect(sent).toHaveLength(1);
    const only: EtcdRangeResponse = { header: { revision: '7' }, kvs: [kv('a')], count: '1' };
    sent[0]?.answer(only);
    expect(await first).toEqual(only);

    await expect.poll(() => sent.length).toBe(2);
    expect(sent[1]?.path).toBe('/v3/kv/txn');
    expect(sent[1]?.body).toEqual({
      success: [{ request_range: { key: 'b' } }, { request_range: { key: 'c' } }, { request_range: { key: 'd' } }],
    });
    const txn: EtcdTxnResponse = {
      header: { revision: '9' },
      succeeded: true,
      responses: [
        { response_range: { kvs: [kv('b')], count: '1' } },
        { response_range: {} },
        { response_range: { kvs: [kv('d')], count: '1' } },
      ],
    };
    sent[1]?.answer(txn);
    expect(await Promise.all(next)).toEqual([
      { header: { revision: '9' }, kvs: [kv('b')], count: '1' },
      { header: { revision: '9' } },
      { header: { revision: '9' }, kvs: [kv('d')], count: '1' },
    ]);
  });

  it("a failed batch is every read's failure; a batch holds at most 64 reads", async () => {
    const { calls, sent } = held();
    const reads = new ReadBatcher(calls);
    const first = reads.read('first');
    await turn();
    const waiting = Array.from({ length: 70 }, (_, i) => reads.read(`k${i}`).catch((err: unknown) => err));
    sent[0]?.answer({ header: { revision: '1' } });
    await first;
    await expect.poll(() => sent.length).toBe(2);
    expect(sent[1]?.body.success).toHaveLength(64);
    const refusal = new StoreError('backend_unavailable', { why: 'etcd at …: down' });
    sent[1]?.fail(refusal);
    await expect.poll(() => sent.length).toBe(3);
    expect(sent[2]?.body.success).toHaveLength(6);
    sent[2]?.answer({ header: { revision: '2' }, responses: Array.from({ length: 6 }, () => ({ response_range: {} })) });
    const outcomes = await Promise.all(waiting);
    expect(outcomes.slice(0, 64).every((o) => o === refusal)).toBe(true);
    expect(outcomes.slice(64)).toEqual(Array.from({ length: 6 }, () => ({ header: { revision: '2' } })));
  });

  it('closing refuses the reads still queued, and every later one, without sending them', async () => {
    const { calls, sent } = held();
    const reads = new ReadBatcher(calls);
    void reads.read('on-its-way');
    await turn();
    const queued = reads.read('queued');
    reads.close();
    await expect(queued).rejects.toMatchObject({ reason: 'backend_unavailable' });
    await expect(reads.read('later')).rejects.toMatchObject({ reason: 'backend_unavailable' });
    expect(sent).toHaveLength(1);
  });
});

describe('the read batcher waiting for the clients a batch answered (waitMs, KV_ETCD_BATCH_WAIT_MS)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('their next reads go in one batch with the reads queued meanwhile; with waitMs 0 they do not', async () => {
    for (const [waitMs, expected] of [
      [
        60_000,
        [
          ['a', 'b'],
          ['c', 'a2', 'b2'],
        ],
      ],
      [0, [['a', 'b'], ['c'], ['a2', 'b2']]],
    ] as const) {
      const { calls, sent } = held();
      const answered = { n: 0 };
      const reads = new ReadBatcher(calls, { waitMs });
      // Two clients read at once, and each reads again as soon as it has its answer, which takes
      // two turns of the event loop (over a socket it would take a round trip).
      const clients = ['a', 'b'].map((key) =>
        reads
          .read(key)
          .then(() => turns(2))
          .then(() => reads.read(`${key}2`)),
      );
      await turns(2);
      // A third read arrives while their batch is with etcd.
      const third = reads.read('c');
      await turns(2);
      expect(keysOf(sent)).toEqual([['a', 'b']]);
      answerNext(sent, answered);
      await turns(5);
      // Waiting: c waits for a2 and b2, and the three go together. Not waiting: c goes alone (a
      // batch of one is a range), and a2 and b2 follow once it is back.
      expect(keysOf(sent)).toEqual(expected.slice(0, 2));
      answerNext(sent, answered);
      await turns(5);
      if (waitMs === 0) answerNext(sent, answered);
      const answers = await Promise.all([...clients, third]);
      expect(answers.map((a) => a.kvs?.[0]?.key)).toEqual(['a2', 'b2', 'c']);
      expect(keysOf(sent)).toEqual(expected);
      reads.close();
    }
  });

  it('waits no longer than waitMs for clients that do not read again', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { calls, sent } = held();
    const answered = { n: 0 };
    const reads = new ReadBatcher(calls, { waitMs: 5, now: () => 1_000 });
    const first = Promise.all(['a', 'b'].map((key) => reads.read(key)));
    await turns(2);
    const third = reads.read('c');
    answerNext(sent, answered);
    await first;
    await turns(5);
    // c waits for two more reads that do not come, until the wait's 5 ms are up.
    expect(keysOf(sent)).toEqual([['a', 'b']]);
    vi.advanceTimersByTime(4);
    await turns(5);
    expect(keysOf(sent)).toEqual([['a', 'b']]);
    vi.advanceTimersByTime(1);
    await turns(5);
    expect(keysOf(sent)).toEqual([['a', 'b'], ['c']]);
    expect(sent[1]?.path).toBe('/v3/kv/range');
    answerNext(sent, answered);
    expect(await third).toEqual({ header: { revision: '101' }, kvs: [kv('c')], count: '1' });
  });

  it("does not wait once a batch's worth of reads is queued", async () => {
    const { calls, sent } = held();
    const answered = { n: 0 };
    const reads = new ReadBatcher(calls, { waitMs: 60_000 });
    const sizes = () => keysOf(sent).map((keys) => keys.length);
    // 70 reads at once: 64 (the cap) go, 6 wait. When the 64 come back the next batch waits for
    // 64 more; 58 of those clients read again, so 64 are queued: a batch's worth, which goes.
    const clients = Array.from({ length: 70 }, (_, i) => reads.read(`k${i}`).then(() => (i < 58 ? reads.read(`k${i}-again`) : undefined)));
    await turns(2);
    expect(sizes()).toEqual([64]);
    answerNext(sent, answered);
    await turns(5);
    expect(sizes()).toEqual([64, 64]);
    answerNext(sent, answered);
    await Promise.all(clients);
    expect(sizes()).toEqual([64, 64]);
    reads.close();
  });
});
