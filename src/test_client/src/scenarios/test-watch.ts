import type { JsonValue } from '@kv/client';
import type { Scenario } from '../run/scenario.js';

/**
 * A watch sees every change to its key, in order, each once: an SSE stream opened before the
 * writes gets them live with id = revision; a long-poll from before them gets them at once; a
 * reconnection with Last-Event-ID resumes right after that id; a watch that names no form is
 * refused.
 */
export const testWatch: Scenario = {
  name: 'test_watch',
  description:
    'create a fresh key; a long-poll after its revision has nothing (200); open an SSE watch of the key; PUT it, then DELETE it; the stream delivers both, in order, with id = revision; a long-poll from the creation gets both at once; an SSE reconnect with Last-Event-ID of the PUT resumes at the DELETE; a watch with no form is refused (400); clean up',
  async run(t) {
    const first: JsonValue = { test: t.test, runId: t.runId, write: 1 };
    const second: JsonValue = { test: t.test, runId: t.runId, write: 2 };
    const watchPath = `${t.path}?watch=true`;
    const sse = { accept: 'text/event-stream' };

    const created = await t.step(
      'create a fresh key',
      { method: 'POST', path: '/v1/', body: { key: t.key, value: first } },
      { status: 201, shape: 'entry', body: { key: t.key, value: first, version: 1 } },
    );
    const r1 = (created.body as { revision: number }).revision;
    await t.step(
      'a long-poll after the creation has no changes yet',
      { method: 'GET', path: `${watchPath}&after=${r1}&wait=0` },
      { status: 200, shape: 'changes', body: { changes: [], more: false } },
    );
    const stream = await t.openWatch(
      'open an SSE watch of the key',
      { method: 'GET', path: `${watchPath}&after=${r1}`, headers: sse },
      { status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8' } },
    );
    const put = await t.step(
      'PUT a new value',
      { method: 'PUT', path: t.path, body: { value: second } },
      { status: 200, shape: 'entry', body: { key: t.key, value: second, version: 2 } },
    );
    const r2 = (put.body as { revision: number }).revision;
    await t.step('DELETE the key', { method: 'DELETE', path: t.path }, { status: 204, shape: 'empty' });
    await t.events('the SSE stream delivered the PUT and the DELETE, in order, with id = revision', stream, 2, {
      status: 200,
      body: {
        'events.0.id': String(r2),
        'events.0.data.revision': r2,
        'events.0.data.changes.*.type': ['put'],
        'events.0.data.changes.0.key': t.key,
        'events.0.data.changes.0.value': second,
        'events.0.data.changes.0.version': 2,
        'events.1.data.changes.*.type': ['delete'],
        'events.1.data.changes.0.reason': 'delete',
      },
    });
    const polled = await t.step(
      'a long-poll from the creation gets both changes at once',
      { method: 'GET', path: `${watchPath}&after=${r1}&wait=5` },
      {
        status: 200,
        shape: 'changes',
        body: { 'changes.*.type': ['put', 'delete'], 'changes.0.revision': r2, 'changes.0.value': second, more: false },
      },
    );
    const r3 = (polled.body as { changes: Array<{ revision: number }> }).changes[1]?.revision ?? -1;
    const resumed = await t.openWatch(
      'reconnect as a browser does, with Last-Event-ID of the PUT',
      { method: 'GET', path: watchPath, headers: { ...sse, 'last-event-id': String(r2) } },
      { status: 200 },
    );
    await t.events('the reconnected stream resumes at the DELETE, and nothing before it', resumed, 1, {
      status: 200,
      body: { 'events.*.id': [String(r3)], 'events.0.data.changes.*.type': ['delete'] },
    });
    await t.step(
      'a watch that names neither SSE, NDJSON nor wait is refused',
      { method: 'GET', path: watchPath },
      { status: 400, shape: 'error', body: { 'error.code': 'invalid_query' } },
    );
  },
};
