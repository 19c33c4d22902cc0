/*
 * CRC-32 (IEEE 802.3, the polynomial of zip and zlib) of every record in the data directory.
 * node:zlib computes it natively from Node 20.15 / 22.2; on an older Node the table-driven
 * version below gives the same numbers, so files are the same either way.
 *
 * Most records are small (a logged write of a 100-byte value is about 180 bytes), and a call of
 * zlib's crc32 costs about 300 ns before its first byte (and a Buffer view of the range to pass
 * it), against about 0.8 ns a byte for the slicing-by-8 loop below (Intel's "slicing-by-8": eight
 * tables, eight bytes a step). Measured on 50 MB of 186-byte ranges: 165-184 ns a record in
 * JavaScript, 307-360 ns through zlib; at 1 KiB zlib is 2× faster. So `crc32Range` computes
 * ranges under SMALL_RANGE bytes here and hands longer ones to zlib.
 */

import * as zlib from 'node:zlib';

type Crc32 = (data: Uint8Array, value?: number) => number;

const TABLE = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c >>> 0;
}

/** TABLE, then seven more: entry k × 256 + n is the CRC of byte n followed by k zero bytes. */
const SLICES = new Int32Array(8 * 256);
SLICES.set(TABLE);
for (let n = 0; n < 256; n++) {
  for (let k = 1; k < 8; k++) {
    const before = SLICES[(k - 1) * 256 + n] as number;
    SLICES[k * 256 + n] = (SLICES[before & 0xff] as number) ^ (before >>> 8);
  }
}

/** Below this many bytes crc32Range runs in JavaScript; from it, in zlib when this Node has it (else in JavaScript too). */
const SMALL_RANGE = 512;

/** CRC-32 of `data`, continuing from `value` (0 to start), one byte at a time through a table. */
export function tableCrc32(data: Uint8Array, value = 0): number {
  let crc = ~value >>> 0;
  for (let i = 0; i < data.length; i++) crc = (TABLE[(crc ^ (data[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return ~crc >>> 0;
}

const native = (zlib as { crc32?: Crc32 }).crc32;

/** CRC-32 of `data`: node:zlib's when this Node has it, else tableCrc32. */
export const crc32: Crc32 = native ?? tableCrc32;

/** CRC-32 of bytes `start` to `end` of `data` (as crc32 of that subarray, without making one). */
export function crc32Range(data: Uint8Array, start: number, end: number): number {
  if (native !== undefined && end - start >= SMALL_RANGE) return native(data.subarray(start, end));
  const t = SLICES;
  let crc = -1;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a =
      crc ^ ((data[i] as number) | ((data[i + 1] as number) << 8) | ((data[i + 2] as number) << 16) | ((data[i + 3] as number) << 24));
    const b = (data[i + 4] as number) | ((data[i + 5] as number) << 8) | ((data[i + 6] as number) << 16) | ((data[i + 7] as number) << 24);
    crc =
      (t[1792 + (a & 0xff)] as number) ^
      (t[1536 + ((a >>> 8) & 0xff)] as number) ^
      (t[1280 + ((a >>> 16) & 0xff)] as number) ^
      (t[1024 + (a >>> 24)] as number) ^
      (t[768 + (b & 0xff)] as number) ^
      (t[512 + ((b >>> 8) & 0xff)] as number) ^
      (t[256 + ((b >>> 16) & 0xff)] as number) ^
      (t[b >>> 24] as number);
  }
  for (; i < end; i++) crc = (t[(crc ^ (data[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return ~crc >>> 0;
}
