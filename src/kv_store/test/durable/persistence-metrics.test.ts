import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { registerPersistenceMetrics } from '../../src/metrics/persistence-metrics.js';
import { EntryModel, logged, openDurable } from '../support/durable.js';
import { ManualScheduler, SimDisk } from '../support/sim-disk.js';

describe('persistence metrics', () => {
  it('kv_wal_fsync_duration_seconds counts every fsync of the log; kv_snapshot_last_success_timestamp_seconds is the last snapshot time', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    let model: EntryModel | undefined;
    const { store, persistence } = await openDurable(disk, scheduler, {
      fsync: 'everysec',
      snapshots: (s) => (model as EntryModel).snapshots()(s),
    });
    model = new EntryModel(store);
    const registry = new Registry();
    registerPersistenceMetrics(registry, persistence);
    /** A sample's value in the text /metrics would serve. */
    const value = async (sample: string): Promise<number | undefined> => {
      const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${sample} `));
      return line === undefined ? undefined : Number(line.slice(sample.length + 1));
    };
    expect(await value('kv_snapshot_last_success_timestamp_seconds')).toBe(0);
    await logged(store.create('a', '1'), scheduler);
    await scheduler.advance(1000);
    await logged(store.create('b', '2'), scheduler);
    await scheduler.advance(1000);
    expect(await value('kv_wal_fsync_duration_seconds_count')).toBe(2);
    const taking = persistence.snapshot();
    await scheduler.settle();
    expect(await taking).toBeDefined();
    expect(await value('kv_snapshot_last_success_timestamp_seconds')).toBe(scheduler.now() / 1000);
    expect(await registry.metrics()).toContain('# TYPE kv_wal_fsync_duration_seconds histogram');
  });
});
