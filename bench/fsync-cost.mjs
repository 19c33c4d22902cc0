// What an fdatasync costs after a write that grows the file, against one after a write over
// blocks already written (zeros), on the file system of DIR: why the log fills its current
// segment with zeros ahead of its records (src/kv_store/src/store/durable/write-ahead-log.ts).
//
//   node bench/fsync-cost.mjs [DIR] [writes] [bytes]
// Defaults: bench/ (the file system the durability bench's data directories are on), 2000 writes
// of 4,000 bytes; two rounds of each kind, one after the other. Prints µs per write + fdatasync.
import { closeSync, fdatasyncSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = mkdtempSync(join(process.argv[2] ?? dirname(fileURLToPath(import.meta.url)), '.fsync-cost-'));
const writes = Number(process.argv[3] ?? 2000);
const bytes = Number(process.argv[4] ?? 4000);
const record = Buffer.alloc(bytes, 7);

function round(kind) {
  const path = join(dir, kind);
  const fd = openSync(path, 'w+');
  if (kind === 'over-zeros') {
    const zeros = Buffer.alloc(1 << 20);
    for (let at = 0; at < writes * bytes + zeros.length; at += zeros.length) writeSync(fd, zeros, 0, zeros.length, at);
    fsyncSync(fd);
  }
  const start = process.hrtime.bigint();
  for (let i = 0; i < writes; i++) {
    writeSync(fd, record, 0, bytes, i * bytes);
    fdatasyncSync(fd);
  }
  const us = Number(process.hrtime.bigint() - start) / writes / 1000;
  closeSync(fd);
  rmSync(path);
  return us;
}

try {
  for (let r = 1; r <= 2; r++) {
    for (const kind of ['append', 'over-zeros']) {
      console.log(`round ${r}  ${kind.padEnd(10)}  ${round(kind).toFixed(1)} µs per ${bytes}-byte write + fdatasync`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
