/*
 * CRC-32 (IEEE 802.3, the polynomial of zip and zlib) of every record in the data directory.
 * node:zlib computes it natively from Node 20.15 / 22.2; on an older Node the table-driven
 * version below gives the same numbers, so files are the same either way.
 */

import * as zlib from 'node:zlib';

type Crc32 = (data: Uint8Array, value?: number) => number;

const TABLE = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c >>> 0;
}

/** CRC-32 of `data`, continuing from `value` (0 to start), one byte at a time through a table. */
export function tableCrc32(data: Uint8Array, value = 0): number {
  let crc = ~value >>> 0;
  for (let i = 0; i < data.length; i++) crc = (TABLE[(crc ^ (data[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return ~crc >>> 0;
}

const native = (zlib as { crc32?: Crc32 }).crc32;

/** CRC-32 of `data`: node:zlib's when this Node has it, else tableCrc32. */
export const crc32: Crc32 = native ?? tableCrc32;
