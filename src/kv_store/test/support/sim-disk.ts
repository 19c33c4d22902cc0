import { basename, dirname } from 'node:path';
import type { Fd, FileLayer } from '../../src/store/durable/file-layer.js';
import type { Scheduler } from '../../src/store/durable/options.js';
import { T0 } from '../helpers.js';

/** A file's bytes: what a reader sees now, and what survives a crash (as of its last completed fsync). */
interface Inode {
  data: Buffer;
  size: number;
  synced: Buffer;
}

function errno(code: string, message: string): NodeJS.ErrnoException {
  const err = new Error(`${code}: ${message}`) as NodeJS.ErrnoException;
  err.code = code;
  return err;
}

/**
 * A file system in memory that plays a machine crash: crash() forgets every byte not made
 * durable by a completed datasync, and every create, rename or unlink not made durable by a
 * syncDir. It can also run out of space (`capacity`: a write past it is short, then ENOSPC) and
 * fail fsyncs (`failFsync`). fsyncs complete when the test says (holdFsyncs / releaseFsyncs),
 * or at once.
 */
export class SimDisk implements FileLayer {
  /** Total bytes the files may hold; a write beyond is cut short, then fails with ENOSPC. */
  capacity = Number.POSITIVE_INFINITY;
  /** When set, every write fails with this code (before writing anything). */
  failWrite: string | undefined;
  /** When set, every datasync fails with this code. */
  failFsync: string | undefined;
  /** While true, datasyncs wait for releaseFsyncs(). */
  holdFsyncs = false;
  datasyncs = 0;
  /** Calls of write (one a record before the log kept a turn's records together). */
  writes = 0;
  private names = new Map<string, Inode>();
  private durableNames = new Map<string, Inode>();
  private fds = new Map<Fd, Inode>();
  private nextFd = 100;
  private held: Array<() => void> = [];

  create(path: string): Fd {
    if (this.names.has(path)) throw errno('EEXIST', `file already exists, open '${path}'`);
    const inode: Inode = { data: Buffer.alloc(0), size: 0, synced: Buffer.alloc(0) };
    this.names.set(path, inode);
    return this.fdFor(inode);
  }

  open(path: string): Fd {
    return this.fdFor(this.lookup(path));
  }

  openRead(path: string): Fd {
    return this.fdFor(this.lookup(path));
  }

  size(fd: Fd): number {
    return this.inode(fd).size;
  }

  read(fd: Fd, buffer: Uint8Array, offset: number, length: number, position: number): number {
    const inode = this.inode(fd);
    const n = Math.max(0, Math.min(length, inode.size - position));
    inode.data.copy(buffer, offset, position, position + n);
    return n;
  }

  write(fd: Fd, buffer: Uint8Array, offset: number, length: number, position: number): number {
    this.writes++;
    if (this.failWrite !== undefined) throw errno(this.failWrite, 'write');
    const inode = this.inode(fd);
    const growth = Math.max(0, position + length - inode.size);
    const room = this.capacity - this.used();
    let n = length;
    if (growth > room) {
      n = Math.max(0, length - (growth - room));
      if (n === 0) throw errno('ENOSPC', 'no space left on device, write');
    }
    const end = position + n;
    if (end > inode.data.length) {
      const grown = Buffer.alloc(Math.max(end, inode.data.length * 2));
      inode.data.copy(grown, 0, 0, inode.size);
      inode.data = grown;
    }
    Buffer.from(buffer.buffer, buffer.byteOffset + offset, n).copy(inode.data, position);
    inode.size = Math.max(inode.size, end);
    return n;
  }

  truncate(fd: Fd, length: number): void {
    const inode = this.inode(fd);
    if (length < inode.size) inode.data.fill(0, length, inode.size);
    inode.size = length;
  }

  datasync(fd: Fd): Promise<void> {
    const inode = this.inode(fd);
    // What was written before the fsync began is what it makes durable.
    const content = Buffer.from(inode.data.subarray(0, inode.size));
    return new Promise<void>((resolve, reject) => {
      const finish = (): void => {
        if (this.failFsync !== undefined) {
          reject(errno(this.failFsync, 'i/o error, fdatasync'));
          return;
        }
        this.datasyncs++;
        inode.synced = content;
        resolve();
      };
      if (this.holdFsyncs) this.held.push(finish);
      else queueMicrotask(finish);
    });
  }

  /** Completes every fsync waiting (holdFsyncs). */
  releaseFsyncs(): void {
    const held = this.held;
    this.held = [];
    for (const finish of held) finish();
  }

  /** fsyncs started and not yet completed. */
  get fsyncsInFlight(): number {
    return this.held.length;
  }

  close(fd: Fd): void {
    this.inode(fd);
    this.fds.delete(fd);
  }

  list(dir: string): string[] {
    return [...this.names.keys()].filter((p) => dirname(p) === dir).map((p) => basename(p));
  }

  rename(from: string, to: string): void {
    const inode = this.lookup(from);
    this.names.delete(from);
    this.names.set(to, inode);
  }

  unlink(path: string): void {
    this.lookup(path);
    this.names.delete(path);
  }

  syncDir(dir: string): Promise<void> {
    for (const path of [...this.durableNames.keys()]) if (dirname(path) === dir) this.durableNames.delete(path);
    for (const [path, inode] of this.names) if (dirname(path) === dir) this.durableNames.set(path, inode);
    return new Promise((resolve) => queueMicrotask(resolve));
  }

  mkdirp(): void {}

  freeBytes(): number {
    return Math.max(0, this.capacity - this.used());
  }

  /** The machine stops: open files are gone, and so is everything not fsynced. */
  crash(): void {
    this.fds.clear();
    this.held = [];
    this.holdFsyncs = false;
    this.names = new Map(this.durableNames);
    for (const inode of new Set(this.names.values())) {
      inode.data = Buffer.from(inode.synced);
      inode.size = inode.synced.length;
    }
  }

  /**
   * The machine stops in the middle of writing back: as crash(), but of each file's bytes written
   * since its last fsync, within the size it had then, the 512-byte sectors `keep` says yes to
   * reached the disk and the others did not, in no order (a disk writes sectors whole, and
   * overwrites of blocks already there in any order). A file's size stays as of its last fsync,
   * as a journaling file system keeps it until the data under it is written.
   */
  tornCrash(keep: (path: string, sector: number) => boolean): void {
    for (const [path, inode] of this.durableNames) {
      const synced = inode.synced;
      const now = inode.data.subarray(0, Math.min(inode.size, synced.length));
      const torn = Buffer.from(synced);
      for (let at = 0; at < now.length; at += 512) {
        const end = Math.min(now.length, at + 512);
        if (!now.subarray(at, end).equals(synced.subarray(at, end)) && keep(path, at / 512)) now.copy(torn, at, at, end);
      }
      inode.synced = torn;
    }
    this.crash();
  }

  /** A file's current bytes (for tests that damage files). */
  bytes(path: string): Buffer {
    const inode = this.lookup(path);
    return Buffer.from(inode.data.subarray(0, inode.size));
  }

  /** Replaces a file's bytes, durably (damage that a crash does not undo). */
  setBytes(path: string, data: Buffer): void {
    const inode = this.lookup(path);
    inode.data = Buffer.from(data);
    inode.size = data.length;
    inode.synced = Buffer.from(data);
  }

  private used(): number {
    let total = 0;
    for (const inode of new Set(this.names.values())) total += inode.size;
    return total;
  }

  private lookup(path: string): Inode {
    const inode = this.names.get(path);
    if (inode === undefined) throw errno('ENOENT', `no such file or directory, open '${path}'`);
    return inode;
  }

  private inode(fd: Fd): Inode {
    const inode = this.fds.get(fd);
    if (inode === undefined) throw errno('EBADF', 'bad file descriptor');
    return inode;
  }

  private fdFor(inode: Inode): Fd {
    const fd = this.nextFd++;
    this.fds.set(fd, inode);
    return fd;
  }
}

/**
 * A Scheduler the test drives: `soon` work runs on settle(), timers on advance(). No verdict
 * depends on how fast the machine is.
 */
export class ManualScheduler implements Scheduler {
  time = T0;
  soonRuns = 0;
  private queue: Array<() => void> = [];
  private timers: Array<{ ms: number; fn: () => void; next: number; stopped: boolean }> = [];

  soon(fn: () => void): void {
    this.queue.push(fn);
  }

  every(ms: number, fn: () => void): () => void {
    const timer = { ms, fn, next: this.time + ms, stopped: false };
    this.timers.push(timer);
    return () => {
      timer.stopped = true;
    };
  }

  now(): number {
    return this.time;
  }

  /** Runs deferred work, and what it defers in turn, until nothing is left; promises settle in between. */
  async settle(): Promise<void> {
    for (let round = 0; round < 100_000; round++) {
      await new Promise((resolve) => setImmediate(resolve));
      if (this.queue.length === 0) return;
      const queue = this.queue;
      this.queue = [];
      for (const fn of queue) {
        this.soonRuns++;
        fn();
      }
    }
    throw new Error('ManualScheduler.settle: work keeps deferring more work');
  }

  /** One turn: the promises ready to run settle, then the deferred work queued so far runs once. Returns how many ran. */
  async step(): Promise<number> {
    await new Promise((resolve) => setImmediate(resolve));
    const queue = this.queue;
    this.queue = [];
    for (const fn of queue) {
      this.soonRuns++;
      fn();
    }
    return queue.length;
  }

  /** Moves time on by `ms`, firing each timer when due, settling after each. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      const due = this.timers.filter((t) => !t.stopped && t.next <= end).sort((a, b) => a.next - b.next)[0];
      if (due === undefined) break;
      this.time = Math.max(this.time, due.next);
      due.next += due.ms;
      due.fn();
      await this.settle();
    }
    this.time = end;
    await this.settle();
  }
}
