import { describe, expect, it } from 'vitest';
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
