import { randomBytes } from 'node:crypto';

/** A secret 64-bit hash key, drawn once per process: nobody outside can predict which keys collide. */
export interface HashKey {
  readonly k0: number;
  readonly k1: number;
}

export function randomHashKey(): HashKey {
  const bytes = randomBytes(8);
  return { k0: bytes.readUInt32LE(0), k1: bytes.readUInt32LE(4) };
}

/**
 * HalfSipHash-c-d (by default 1-3) of `bytes[0, length)` under `key`, a 32-bit result: the keyed hash the Linux
 * kernel uses for its hash tables (hsiphash). Keyed, so clients cannot flood the key index with
 * keys they know collide; and fast enough for a 16-byte key to hash in well under a microsecond.
 */
export function halfSipHash(key: HashKey, bytes: Uint8Array, length: number, cRounds = 1, dRounds = 3): number {
  let v0 = key.k0 | 0;
  let v1 = key.k1 | 0;
  let v2 = (0x6c796765 ^ key.k0) | 0;
  let v3 = (0x74656462 ^ key.k1) | 0;
  const whole = length & ~3;
  // One pass per 4-byte word, one for the last block (the 0-3 bytes left and the length), and
  // one for the finalization (m = 0, v2 ^= 0xff, dRounds rounds).
  for (let i = 0; i <= whole + 4; i += 4) {
    const final = i > whole;
    const m = final
      ? 0
      : i < whole
        ? (bytes[i] as number) | ((bytes[i + 1] as number) << 8) | ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24)
        : lastBlock(bytes, i, length);
    if (final) v2 ^= 0xff;
    else v3 ^= m;
    for (let r = final ? dRounds : cRounds; r > 0; r--) {
      v0 = (v0 + v1) | 0;
      v1 = (v1 << 5) | (v1 >>> 27);
      v1 ^= v0;
      v0 = (v0 << 16) | (v0 >>> 16);
      v2 = (v2 + v3) | 0;
      v3 = (v3 << 8) | (v3 >>> 24);
      v3 ^= v2;
      v0 = (v0 + v3) | 0;
      v3 = (v3 << 7) | (v3 >>> 25);
      v3 ^= v0;
      v2 = (v2 + v1) | 0;
      v1 = (v1 << 13) | (v1 >>> 19);
      v1 ^= v2;
      v2 = (v2 << 16) | (v2 >>> 16);
    }
    v0 ^= m;
  }
  return (v1 ^ v3) >>> 0;
}

function lastBlock(bytes: Uint8Array, at: number, length: number): number {
  let b = length << 24;
  const rest = length & 3;
  if (rest === 3) b |= (bytes[at + 2] as number) << 16;
  if (rest >= 2) b |= (bytes[at + 1] as number) << 8;
  if (rest >= 1) b |= bytes[at] as number;
  return b;
}
