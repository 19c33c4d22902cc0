import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { HistoryLimits } from '../../src/store/memory/change-history.js';
import type { FsyncPolicy, PersistenceLog, RecoveryMode } from '../../src/store/durable/options.js';
import { Persistence, type PersistenceOptions } from '../../src/store/durable/persistence.js';
import type { StateSnapshot } from '../../src/store/durable/snapshot-writer.js';
import type { ChangeBatch, Entry, MaybePromise } from '../../src/store/store.js';
import { FakeClock } from '../helpers.js';
import type { ManualScheduler, SimDisk } from './sim-disk.js';

/**
 * A durable store's write, answered: its answer waits for the log's write of the turn, which
 * `scheduler` runs (settle), and then it settles.
 */
export async function logged<T>(result: MaybePromise<T>, scheduler: ManualScheduler): Promise<T> {
  await scheduler.settle();
  return result;
}

/** The data directory of the simulated disk. */
export const DIR = '/data';

/** Log lines kept for assertions. */
export class MemoryLog implements PersistenceLog {
  readonly lines: Array<{ level: 'info' | 'warn' | 'error'; fields: object; message: string }> = [];

  info(fields: object, message: string): void {
    this.lines.push({ level: 'info', fields, message });
  }

  warn(fields: object, message: string): void {
    this.lines.push({ level: 'warn', fields, message });
  }

  error(fields: object, message: string): void {
    this.lines.push({ level: 'error', fields, message });
  }

  messages(level: 'info' | 'warn' | 'error'): string[] {
    return this.lines.filter((l) => l.level === level).map((l) => l.message);
  }
}

/** Every live entry, kept up to date from the store's change feed: the model recovery is checked against. */
export class EntryModel {
  readonly entries = new Map<string, Entry>();

  constructor(store: MemoryStore) {
    store.subscribe((batch) => this.apply(batch));
  }

  apply(batch: ChangeBatch): void {
    for (const change of batch.changes) {
      if (change.type === 'delete') {
        this.entries.delete(change.key);
      } else {
        const { type: _type, reason: _reason, prev: _prev, ...entry } = change;
        this.entries.set(change.key, entry);
      }
    }
  }

  /** A snapshot source over the model: a copy of every entry at the store's revision now. */
  snapshots(): (store: MemoryStore) => StateSnapshot {
    return (store) => {
      const copy = [...this.entries.values()];
      return { revision: store.revision, entries: () => copy, release: () => {} };
    };
  }
}

export interface OpenOptions {
  readonly fsync?: FsyncPolicy;
  readonly recovery?: RecoveryMode;
  readonly clock?: FakeClock;
  readonly log?: MemoryLog;
  readonly segmentBytes?: number;
  readonly snapshotEveryBytes?: number;
  readonly snapshots?: PersistenceOptions['snapshots'];
  readonly snapshotOnClose?: boolean;
  readonly dir?: string;
  /** The store's change history (MemoryStore's default unless given). */
  readonly history?: Partial<HistoryLimits>;
  /** Zeros written ahead of the log's records (on unless false): off where a test counts the log's writes or bytes. */
  readonly zeroAhead?: boolean;
}

export interface Opened {
  readonly store: MemoryStore;
  readonly persistence: Persistence;
  readonly log: MemoryLog;
  readonly clock: FakeClock;
}

/** Opens a durable memory store on `files` (a SimDisk, or the real file system with a real dir). */
export async function openDurable(
  files: SimDisk | PersistenceOptions['files'],
  scheduler: ManualScheduler,
  options: OpenOptions = {},
): Promise<Opened> {
  const log = options.log ?? new MemoryLog();
  const clock = options.clock ?? new FakeClock();
  const persistence = new Persistence({
    dir: options.dir ?? DIR,
    fsync: options.fsync ?? 'always',
    recovery: options.recovery ?? 'strict',
    snapshotEveryBytes: options.snapshotEveryBytes ?? Number.MAX_SAFE_INTEGER,
    segmentBytes: options.segmentBytes ?? 64 * 1_048_576,
    log,
    createStore: (id) => new MemoryStore({ id, clock, durable: true, history: options.history }),
    files,
    scheduler,
    lock: false,
    snapshots: options.snapshots,
    snapshotOnClose: options.snapshotOnClose,
    zeroAhead: options.zeroAhead,
  });
  const store = await persistence.open();
  return { store, persistence, log, clock };
}

/** The entries of `store` for `keys`, as get() answers them (no clock moves, so nothing expires). */
export function entriesOf(store: MemoryStore, keys: Iterable<string>): Map<string, Entry> {
  const found = new Map<string, Entry>();
  for (const key of keys) {
    const entry = store.get(key);
    if (entry !== undefined) found.set(key, entry);
  }
  return found;
}

/** Offsets of every record in a log segment's or snapshot's bytes (after the 8-byte magic), its header record first. */
export function recordOffsets(bytes: Buffer): number[] {
  const offsets: number[] = [];
  for (let at = 8; at + 8 <= bytes.length; at += 8 + bytes.readUInt32LE(at + 4)) offsets.push(at);
  return offsets;
}
