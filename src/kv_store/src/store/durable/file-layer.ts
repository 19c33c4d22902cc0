/*
 * The file operations persistence uses, and nothing more: writes are synchronous (a record
 * reaches the OS before the commit that logs it goes on), fsyncs are asynchronous (they run on
 * libuv's thread pool, off the event loop). Tests put a double here that forgets whatever was
 * not fsynced, to play a machine crash, or that fails with ENOSPC.
 */

import * as fs from 'node:fs';
import { join } from 'node:path';

/** An open file. */
export type Fd = number;

export interface FileLayer {
  /** Creates `path` for reading and writing; fails (EEXIST) if it exists. */
  create(path: string): Fd;
  /** Opens an existing file for reading and writing. */
  open(path: string): Fd;
  /** Opens an existing file for reading. */
  openRead(path: string): Fd;
  size(fd: Fd): number;
  /** Reads up to `length` bytes at `position` into `buffer` at `offset`; returns how many it read. */
  read(fd: Fd, buffer: Uint8Array, offset: number, length: number, position: number): number;
  /** Writes `length` bytes of `buffer` from `offset` at `position`; returns how many it wrote (maybe fewer). */
  write(fd: Fd, buffer: Uint8Array, offset: number, length: number, position: number): number;
  truncate(fd: Fd, length: number): void;
  /** Makes the file's data (and the size needed to read it) durable. */
  datasync(fd: Fd): Promise<void>;
  close(fd: Fd): void;
  /** Names in `dir`. */
  list(dir: string): string[];
  rename(from: string, to: string): void;
  unlink(path: string): void;
  /** Makes creates, renames and unlinks in `dir` durable. */
  syncDir(dir: string): Promise<void>;
  /** Creates `dir` and its parents if missing. */
  mkdirp(dir: string): void;
  /** Bytes an unprivileged writer may still use on the file system holding `dir`. */
  freeBytes(dir: string): number;
}

/** The real file system (node:fs). */
export const nodeFiles: FileLayer = {
  create: (path) => fs.openSync(path, 'wx+'),
  open: (path) => fs.openSync(path, 'r+'),
  openRead: (path) => fs.openSync(path, 'r'),
  size: (fd) => fs.fstatSync(fd).size,
  read: (fd, buffer, offset, length, position) => fs.readSync(fd, buffer, offset, length, position),
  write: (fd, buffer, offset, length, position) => fs.writeSync(fd, buffer, offset, length, position),
  truncate: (fd, length) => fs.ftruncateSync(fd, length),
  datasync: (fd) => new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()))),
  close: (fd) => fs.closeSync(fd),
  list: (dir) => fs.readdirSync(dir),
  rename: (from, to) => fs.renameSync(from, to),
  unlink: (path) => fs.unlinkSync(path),
  syncDir: (dir) =>
    new Promise((resolve, reject) => {
      fs.open(dir, 'r', (err, fd) => {
        if (err) return reject(err);
        fs.fsync(fd, (syncErr) => fs.close(fd, () => (syncErr ? reject(syncErr) : resolve())));
      });
    }),
  mkdirp: (dir) => void fs.mkdirSync(dir, { recursive: true }),
  freeBytes: (dir) => {
    const s = fs.statfsSync(dir);
    return s.bavail * s.bsize;
  },
};

/** Writes all of `data` at `position`, looping over short writes. */
export function writeAll(files: FileLayer, fd: Fd, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.length) done += files.write(fd, data, done, data.length - done, position + done);
}

/** The whole content of `path`. */
export function readWhole(files: FileLayer, path: string): Buffer {
  const fd = files.openRead(path);
  try {
    return readRange(files, fd, 0, files.size(fd));
  } finally {
    files.close(fd);
  }
}

/** `length` bytes at `position` of an open file (fewer if it ends first). */
export function readRange(files: FileLayer, fd: Fd, position: number, length: number): Buffer {
  return readInto(files, fd, Buffer.allocUnsafe(length), position);
}

/** Fills `buffer` from `position` of an open file; returns the part filled (shorter if the file ends first). */
export function readInto(files: FileLayer, fd: Fd, buffer: Buffer, position: number): Buffer {
  let done = 0;
  while (done < buffer.length) {
    const n = files.read(fd, buffer, done, buffer.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return buffer.subarray(0, done);
}

/** Writes `data` to `dir/name` so that it is either wholly there or not at all: a temp file, fsync, rename, fsync of the directory. */
export async function writeFileDurably(files: FileLayer, dir: string, name: string, data: Uint8Array): Promise<void> {
  const temp = join(dir, `${name}.tmp`);
  try {
    files.unlink(temp);
  } catch {
    // none left over
  }
  const fd = files.create(temp);
  try {
    writeAll(files, fd, data, 0);
    await files.datasync(fd);
  } finally {
    files.close(fd);
  }
  files.rename(temp, join(dir, name));
  await files.syncDir(dir);
}
