/*
 * The data directory (KV_DATA_DIR): what lives there, the store id, and the lock that keeps a
 * second kv_store out.
 *
 *   LOCK                          the owner: pid, host, boot id, process start time
 *   store-id                      the store's id, made when the directory's history begins
 *   snapshot-<revision>.snap      the whole state at <revision> (at most one after start-up)
 *   wal-<first revision>.log      log segments: the commits from <first revision> on
 *   *.tmp                         a file being written (a snapshot, the store id); removed at start
 *   *.damaged-<offset>, *.dropped what recovery cut off (truncating damage, or whole records after a torn one), kept for inspection
 *
 * Revisions in names have 16 digits, so names sort as revisions do.
 */

import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type FileLayer, readWhole, writeFileDurably } from './file-layer.js';

/** The data directory cannot be used; the message says why and what to do, in one line. */
export class DataDirError extends Error {
  override readonly name = 'DataDirError';
}

export const STORE_ID_FILE = 'store-id';
export const LOCK_FILE = 'LOCK';

const DIGITS = 16;
const SEGMENT_NAME = /^wal-(\d{16})\.log$/;
const SNAPSHOT_NAME = /^snapshot-(\d{16})\.snap$/;

export function segmentName(firstRevision: number): string {
  return `wal-${String(firstRevision).padStart(DIGITS, '0')}.log`;
}

export function snapshotName(revision: number): string {
  return `snapshot-${String(revision).padStart(DIGITS, '0')}.snap`;
}

export interface NamedFile {
  readonly name: string;
  /** The revision in its name: a segment's first, a snapshot's own. */
  readonly revision: number;
}

/** What the directory holds, each kind in revision order. */
export interface DirListing {
  readonly segments: readonly NamedFile[];
  readonly snapshots: readonly NamedFile[];
  readonly temps: readonly string[];
  readonly hasStoreId: boolean;
}

export function listDataDir(files: FileLayer, dir: string): DirListing {
  const segments: NamedFile[] = [];
  const snapshots: NamedFile[] = [];
  const temps: string[] = [];
  let hasStoreId = false;
  for (const name of files.list(dir)) {
    const segment = SEGMENT_NAME.exec(name);
    const snapshot = SNAPSHOT_NAME.exec(name);
    if (segment !== null) segments.push({ name, revision: Number(segment[1]) });
    else if (snapshot !== null) snapshots.push({ name, revision: Number(snapshot[1]) });
    else if (name.endsWith('.tmp')) temps.push(name);
    else if (name === STORE_ID_FILE) hasStoreId = true;
  }
  const byRevision = (a: NamedFile, b: NamedFile) => a.revision - b.revision;
  return { segments: segments.sort(byRevision), snapshots: snapshots.sort(byRevision), temps, hasStoreId };
}

/**
 * The store id of the directory. A directory with no history yet gets a new one, written
 * durably before anything else; a directory with log or snapshot files but no id is refused.
 */
export async function storeIdOf(files: FileLayer, dir: string, listing: DirListing): Promise<{ id: string; isNew: boolean }> {
  if (listing.hasStoreId) {
    const id = readWhole(files, join(dir, STORE_ID_FILE)).toString('utf8').trim();
    if (!/^[\x21-\x7e]{1,128}$/.test(id)) throw new DataDirError(`${join(dir, STORE_ID_FILE)} does not hold a store id`);
    return { id, isNew: false };
  }
  if (listing.segments.length > 0 || listing.snapshots.length > 0) {
    throw new DataDirError(
      `${join(dir, STORE_ID_FILE)} is missing but the directory holds log or snapshot files; restore it from a backup of this directory`,
    );
  }
  const id = randomUUID();
  await writeFileDurably(files, dir, STORE_ID_FILE, Buffer.from(`${id}\n`));
  return { id, isNew: true };
}

/** Who holds a lock, as its LOCK file says. */
interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly bootId?: string;
  readonly startTicks?: string;
  readonly since: string;
}

/** Stops a lock's holding. */
export type ReleaseLock = () => void;

/**
 * Takes the directory's lock, or throws DataDirError naming who holds it. The LOCK file is made
 * whole in a temp file, then linked into place (link fails if LOCK exists, so two processes
 * cannot both create it). A LOCK left by a process that is gone (killed, or the machine
 * restarted) is taken over with a warning. On this host the holder is recognised by pid and
 * process start time, so a pid reused by another program does not keep the lock; a holder on
 * another host (a container sharing the volume) cannot be checked, and is never taken over.
 */
export function lockDataDir(dir: string, warn: (message: string) => void): ReleaseLock {
  const path = join(dir, LOCK_FILE);
  const me: LockOwner = {
    pid: process.pid,
    host: hostname(),
    bootId: bootId(),
    startTicks: startTicks(process.pid),
    since: new Date().toISOString(),
  };
  const temp = join(dir, `${LOCK_FILE}.${process.pid}.tmp`);
  fs.writeFileSync(temp, `${JSON.stringify(me)}\n`);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.linkSync(temp, path);
        return () => {
          try {
            fs.unlinkSync(path);
          } catch {
            // already gone: nothing to release
          }
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = readOwner(path);
      const state = owner === undefined ? 'gone' : holderState(owner);
      if (state === 'running' && owner !== undefined) {
        throw new DataDirError(
          `the data directory ${dir} is in use by another kv_store (pid ${owner.pid}, since ${owner.since}); stop it first: two processes on one data directory would corrupt it`,
        );
      }
      if (state === 'unknown' && owner !== undefined) {
        throw new DataDirError(
          `the data directory ${dir} is locked by a kv_store on host '${owner.host}' (pid ${owner.pid}, since ${owner.since}); if that process is no longer running, remove ${path}`,
        );
      }
      warn(
        owner === undefined
          ? `taking over ${path}, which names no owner`
          : `taking over ${path} from pid ${owner.pid} (since ${owner.since}), which is no longer running`,
      );
      try {
        fs.unlinkSync(path);
      } catch {
        // another process took it over first; the next link says who holds it
      }
    }
    throw new DataDirError(`could not take the lock ${path}: other processes keep taking it`);
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(fs.readFileSync(path, 'utf8')) as Partial<LockOwner>;
    if (typeof owner.pid !== 'number' || typeof owner.host !== 'string') return undefined;
    return { pid: owner.pid, host: owner.host, bootId: owner.bootId, startTicks: owner.startTicks, since: String(owner.since) };
  } catch {
    return undefined;
  }
}

/** Whether the process that wrote a LOCK runs still: 'unknown' when it ran on another host. */
function holderState(owner: LockOwner): 'running' | 'gone' | 'unknown' {
  if (owner.host !== hostname()) return 'unknown';
  const boot = bootId();
  if (owner.bootId !== undefined && boot !== undefined && owner.bootId !== boot) return 'gone';
  // Our own pid in an old LOCK: a previous life of this process slot (pid 1 in a container).
  if (owner.pid === process.pid) return 'gone';
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return 'gone';
  }
  const stat = procStat(owner.pid);
  // A zombie (killed, not yet reaped by its parent) holds nothing any more.
  if (stat !== undefined && (stat[0] === 'Z' || stat[0] === 'X')) return 'gone';
  if (owner.startTicks !== undefined && stat !== undefined && stat[19] !== owner.startTicks) return 'gone';
  return 'running';
}

/** This boot of the machine (Linux), to tell a LOCK from before a restart. */
function bootId(): string | undefined {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** When process `pid` started, in clock ticks since boot (Linux /proc/<pid>/stat field 22). */
function startTicks(pid: number): string | undefined {
  return procStat(pid)?.[19];
}

/** The fields of /proc/<pid>/stat after the command name, from field 3 (the state) on; undefined off Linux or when gone. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}
