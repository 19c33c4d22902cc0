import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import type { HashKey } from '../src/store/memory/half-siphash.js';
import { halfSipHash } from '../src/store/memory/half-siphash.js';
import {
  type IndexPosition,
  RECORD_HEADER_BYTES,
  type RecordAddress,
  type RecordNumbers,
  RecordTable,
  recordClassBytes,
} from '../src/store/memory/record-table.js';

/*
 * RecordTable against a model (a Map from key to value and numbers): every operation through
 * the table's own API, and after every step every key read back whole.
 *
 * The table draws a secret hash key per instance. The mock below keeps randomHashKey random but
 * records each key it hands out, so a test can compute a key's hash (and so its home slot) and
 * pick keys that collide: in their home slot, across the end of the index, or in all 32 bits.
 * It can also swap halfSipHash for a degenerate hash (`hashMode.weak`), under which most keys
 * share all 32 bits of their hash and every home slot is one of the last few of the index.
 */
const drawnHashKeys = vi.hoisted((): HashKey[] => []);
const hashMode = vi.hoisted(() => ({ weak: false }));
vi.mock('../src/store/memory/half-siphash.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../src/store/memory/half-siphash.js')>();
  return {
    ...original,
    randomHashKey: (): HashKey => {
      const key = original.randomHashKey();
      drawnHashKeys.push(key);
      return key;
    },
    halfSipHash: (key: HashKey, bytes: Uint8Array, length: number, cRounds?: number, dRounds?: number): number =>
      hashMode.weak
        ? // By the first byte alone, five hashes at the top of the range: keys that are prefixes of each
          // other share all 32 bits, homes are the last five slots of any index, and clusters wrap.
          (0xffffffff - ((length > 0 ? (bytes[0] as number) : 0) % 5)) >>> 0
        : original.halfSipHash(key, bytes, length, cRounds, dRounds),
  };
});

/** Runs `body` with the degenerate hash (for tables created inside it only). */
function withWeakHash(body: () => void): void {
  hashMode.weak = true;
  try {
    body();
  } finally {
    hashMode.weak = false;
  }
}

const HEADER = 48;
const MiB = 1 << 20;
const SLAB = 4 * MiB;
const INITIAL_SLOTS = 1024;

interface ModelEntry {
  value: string;
  numbers: RecordNumbers;
  /** recordClassBytes(48 + key bytes + value bytes). */
  size: number;
}
type Model = Map<string, ModelEntry>;

/** A table and the hash key it drew. */
function newTable(): { table: RecordTable; hashKey: HashKey } {
  const before = drawnHashKeys.length;
  const table = new RecordTable();
  const hashKey = drawnHashKeys[before];
  if (hashKey === undefined || drawnHashKeys.length !== before + 1) throw new Error('the table did not draw one hash key');
  return { table, hashKey };
}

const hashBuffer = Buffer.alloc(1 << 16);
function hashOf(hashKey: HashKey, key: string): number {
  const length = hashBuffer.write(key, 0, 'utf8');
  return halfSipHash(hashKey, hashBuffer, length);
}

/** Index slots, read from the private field only to confirm a test's premise (that the index grew). */
function indexSlots(table: RecordTable): number {
  return (Reflect.get(table, 'slots') as Uint32Array).length;
}

const utf8 = (text: string): number => Buffer.byteLength(text, 'utf8');
const longKeyBytes = new Map<string, number>();
/** UTF-8 bytes of a key, remembered for long keys (the checks below measure them again and again). */
function keyBytesOf(key: string): number {
  if (key.length < 256) return utf8(key);
  let bytes = longKeyBytes.get(key);
  if (bytes === undefined) {
    bytes = utf8(key);
    longKeyBytes.set(key, bytes);
  }
  return bytes;
}
const classOf = (key: string, value: string): number => recordClassBytes(HEADER + keyBytesOf(key) + utf8(value));
const entryOf = (key: string, value: string, numbers: RecordNumbers): ModelEntry => ({
  value,
  numbers: { ...numbers },
  size: classOf(key, value),
});

/** A fast equality check that falls back to expect (and its diff) only on a mismatch. */
function same(actual: unknown, expected: unknown, what: string): void {
  if (!Object.is(actual, expected)) expect(actual, what).toBe(expected);
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

// 1 to 8 bytes of UTF-8 each: ASCII, Latin, CJK, emoji, combining marks (alone and after a letter),
// an emoji with a skin-tone modifier. No quote, backslash or control character, so `"…"` is JSON.
const PIECES = ['a', 'é', '中', '😀', 'e\u0301', 'Z', '👍🏽', ' ', 'ß', '\u0308', '7', 'ж', '𝄞', '{'];

function piecesOfBytes(bytes: number, random: () => number): string {
  let text = '';
  let left = bytes;
  while (left > 0) {
    const piece = PIECES[Math.floor(random() * PIECES.length)] as string;
    const size = utf8(piece);
    if (size <= left) {
      text += piece;
      left -= size;
    } else {
      text += 'a'.repeat(left);
      left = 0;
    }
  }
  return text;
}

/** A JSON text of exactly `bytes` bytes of UTF-8 (a digit, or a string of mixed unicode). */
function jsonOfBytes(bytes: number, seed: number): string {
  if (bytes < 1) throw new RangeError(`no JSON text has ${bytes} bytes`);
  if (bytes === 1) return String(seed % 10);
  const random = mulberry32(seed);
  let body = '';
  let left = bytes - 2;
  if (left > 16384) {
    const chunk = piecesOfBytes(4096, random);
    const copies = Math.floor(left / 4096) - 1;
    body = chunk.repeat(copies);
    left -= copies * 4096;
  }
  body += piecesOfBytes(left, random);
  const text = `"${body}"`;
  if (utf8(text) !== bytes) throw new Error(`jsonOfBytes made ${utf8(text)} bytes, not ${bytes}`);
  return text;
}

/** The value byte lengths (at least 1) whose record with a key of `keyBytes` has class `size`. */
function valueBytesOfClass(keyBytes: number, size: number): { lo: number; hi: number } {
  const hi = size - HEADER - keyBytes;
  let lo = hi;
  while (lo > 1 && recordClassBytes(HEADER + keyBytes + lo - 1) === size) lo--;
  if (hi < 1 || recordClassBytes(HEADER + keyBytes + hi) !== size) throw new Error(`no value fits class ${size}`);
  return { lo, hi };
}

function numbersFor(i: number): RecordNumbers {
  return {
    version: (i % 7) + 1,
    revision: i * 3 + 1,
    createdAt: 1_700_000_000_000 + i,
    updatedAt: 1_700_000_000_500 + i * 2,
    expiresAt: i % 3 === 0 ? Number.POSITIVE_INFINITY : 1_800_000_000_000 + i,
  };
}

/** Reads the record of `key` back whole and checks it against the model entry. */
function expectRecord(table: RecordTable, key: string, entry: ModelEntry): number {
  const position = table.find(key);
  if (position < 0) expect(position, `find(${JSON.stringify(key.slice(0, 40))}) of a present key`).toBeGreaterThanOrEqual(0);
  const address = table.addressAt(position);
  same(table.key(address), key, 'key()');
  same(table.value(address), entry.value, `value() of ${JSON.stringify(key.slice(0, 40))}`);
  same(table.keyBytes(address), keyBytesOf(key), 'keyBytes()');
  same(table.version(address), entry.numbers.version, 'version()');
  same(table.revision(address), entry.numbers.revision, 'revision()');
  same(table.createdAt(address), entry.numbers.createdAt, 'createdAt()');
  same(table.updatedAt(address), entry.numbers.updatedAt, 'updatedAt()');
  same(table.expiresAt(address), entry.numbers.expiresAt, 'expiresAt()');
  same(table.classBytes(address), entry.size, 'classBytes()');
  return position;
}

function expectAbsent(table: RecordTable, key: string): void {
  same(table.find(key), -1, `find(${JSON.stringify(key.slice(0, 40))}) of an absent key`);
}

function expectMatchesEntry(table: RecordTable, model: Model, key: string): void {
  const entry = model.get(key);
  if (entry === undefined) expectAbsent(table, key);
  else expectRecord(table, key, entry);
}

/** Checks every key of `keys` against the model, that present keys sit at distinct positions, and the memory counts. */
function expectMatchesModel(table: RecordTable, model: Model, keys: Iterable<string>): void {
  same(table.size, model.size, 'size');
  const positions = new Set<number>();
  let present = 0;
  let held = 0;
  for (const key of keys) {
    const entry = model.get(key);
    if (entry === undefined) {
      expectAbsent(table, key);
    } else {
      positions.add(expectRecord(table, key, entry));
      present++;
      held += entry.size;
    }
  }
  same(positions.size, present, 'distinct positions');
  // Live records and free records are disjoint parts of the slab memory held.
  if (held + table.freeBytes > table.reservedBytes) {
    expect(held + table.freeBytes, 'live records + freeBytes within reservedBytes').toBeLessThanOrEqual(table.reservedBytes);
  }
}

/** Inserts an absent key the way the store does: a probe that does not find it, then insertAt. */
function insertAbsent(table: RecordTable, model: Model, key: string, value: string, numbers: RecordNumbers): RecordAddress {
  same(table.find(key), -1, 'find before insert');
  const address = table.insertAt(table.probe(key), value, numbers);
  model.set(key, entryOf(key, value, numbers));
  return address;
}

function removePresent(table: RecordTable, model: Model, key: string): void {
  const position = table.find(key);
  if (position < 0) expect(position, 'find before removeAt').toBeGreaterThanOrEqual(0);
  table.removeAt(position);
  model.delete(key);
}

function rewritePresent(table: RecordTable, model: Model, key: string, value: string, numbers: RecordNumbers): RecordAddress {
  const position = table.find(key);
  if (position < 0) expect(position, 'find before rewrite').toBeGreaterThanOrEqual(0);
  const old = table.addressAt(position);
  const oldClass = table.classBytes(old);
  const address = table.rewrite(position, value, numbers);
  // In place when the class is kept, else moved (the old record is still held while the new one is allocated).
  if (classOf(key, value) === oldClass) same(address, old, 'rewrite within the class stays in place');
  else if (address === old) expect(address, 'rewrite to another class moves the record').not.toBe(old);
  same(table.addressAt(table.find(key)), address, 'the index points at the rewritten record');
  model.set(key, entryOf(key, value, numbers));
  return address;
}

// ---------------------------------------------------------------------------------------------

// Several KiB, and longer than the table's 4096-byte scratch buffer holds for a key of this many UTF-16 units.
const LONG_ASCII = 'L'.repeat(2500);
const LONG_CJK = `long-${'键'.repeat(1000)}`;

/** Keys for the model test: 1 byte, byte-prefixes of each other, unicode, 32/33 bytes, several KiB. */
const FIXED_KEYS = [
  'a',
  'ab',
  'abc',
  'abcd',
  'b',
  '',
  '中',
  '中文',
  '中文字',
  '😀',
  '😀😀',
  '👍',
  '👍🏽',
  'e',
  'e\u0301',
  'é',
  'ä\u0308\u0301',
  'k'.repeat(31),
  'k'.repeat(32),
  'k'.repeat(33),
  `${'k'.repeat(32)}x`,
  LONG_ASCII,
  `${LONG_ASCII}L`,
  `${LONG_ASCII.slice(1)}M`,
  LONG_CJK,
];

const timeLike = fc.oneof(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.double());
const numbersArb: fc.Arbitrary<RecordNumbers> = fc.record({
  version: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  revision: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  createdAt: timeLike,
  updatedAt: timeLike,
  expiresAt: fc.oneof(fc.constant(Number.POSITIVE_INFINITY), timeLike),
});

/** JSON texts from 1 byte to a few KiB, with unicode. */
const valueArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom('1', '0', 'true', 'null', '[]', '{}', '"é"', '"😀"', '"e\u0301"') },
  { weight: 3, arbitrary: fc.json({ maxDepth: 3, stringUnit: 'grapheme' }) },
  {
    weight: 4,
    arbitrary: fc
      .record({ bytes: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 6000 })), seed: fc.nat() })
      .map(({ bytes, seed }) => jsonOfBytes(bytes, seed)),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 120 }))
      .map(([text, times]) => JSON.stringify(text.repeat(times))),
  },
);

type Op =
  | { kind: 'put'; key: number; value: string; numbers: RecordNumbers; between: number | 'maintain' | null }
  | { kind: 'keepClass'; key: number; fraction: number; seed: number; numbers: RecordNumbers }
  | { kind: 'changeClass'; key: number; grow: boolean; extra: number; seed: number; numbers: RecordNumbers }
  | { kind: 'remove'; key: number }
  | { kind: 'find'; key: number }
  | { kind: 'maintain' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('put' as const),
      key: fc.nat(),
      value: valueArb,
      numbers: numbersArb,
      between: fc.oneof(
        { weight: 3, arbitrary: fc.constant(null) },
        { weight: 2, arbitrary: fc.nat() },
        { weight: 1, arbitrary: fc.constant('maintain' as const) },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('keepClass' as const),
      key: fc.nat(),
      fraction: fc.double({ min: 0, max: 1, noNaN: true }),
      seed: fc.nat(),
      numbers: numbersArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('changeClass' as const),
      key: fc.nat(),
      grow: fc.boolean(),
      extra: fc.integer({ min: 0, max: 3000 }),
      seed: fc.nat(),
      numbers: numbersArb,
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('remove' as const), key: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('find' as const), key: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'maintain' as const }) },
);

interface Coverage {
  inserts: number;
  keptClass: number;
  changedClass: number;
  removes: number;
  between: number;
}

/** Runs `ops` on a fresh table and the model, checking every key of the pool after every op. */
function runModel(extraKeys: readonly string[], ops: readonly Op[], seen: Coverage): void {
  const keys = [...new Set([...FIXED_KEYS, ...extraKeys])];
  const { table } = newTable();
  const model: Model = new Map();
  const keyAt = (i: number): string => keys[i % keys.length] as string;

  for (const op of ops) {
    if (op.kind === 'maintain') {
      const reserved = table.reservedBytes;
      const released = table.maintain();
      if (released < 0 || reserved - table.reservedBytes > released) expect(reserved - table.reservedBytes).toBeLessThanOrEqual(released);
      expectMatchesModel(table, model, keys);
      continue;
    }
    const key = keyAt(op.key);
    const entry = model.get(key);
    switch (op.kind) {
      case 'put': {
        if (entry === undefined) {
          same(table.find(key), -1, 'find of an absent key');
          // Between the find and the insert, a lookup of another key (as a sweep does in the store) or maintenance.
          if (op.between === 'maintain') table.maintain();
          else if (op.between !== null) table.find(keyAt(op.between));
          if (op.between !== null) seen.between++;
          const address = table.insertAt(table.probe(key), op.value, op.numbers);
          model.set(key, entryOf(key, op.value, op.numbers));
          same(table.addressAt(table.find(key)), address, 'insert returns the indexed address');
          seen.inserts++;
        } else {
          if (classOf(key, op.value) === entry.size) seen.keptClass++;
          else seen.changedClass++;
          rewritePresent(table, model, key, op.value, op.numbers);
        }
        break;
      }
      case 'keepClass': {
        if (entry === undefined) {
          insertAbsent(table, model, key, jsonOfBytes(1 + (op.seed % 400), op.seed), op.numbers);
          seen.inserts++;
          break;
        }
        const { lo, hi } = valueBytesOfClass(keyBytesOf(key), entry.size);
        const value = jsonOfBytes(lo + Math.floor(op.fraction * (hi - lo)), op.seed);
        same(classOf(key, value), entry.size, 'the new value keeps the class');
        rewritePresent(table, model, key, value, op.numbers);
        seen.keptClass++;
        break;
      }
      case 'changeClass': {
        if (entry === undefined) {
          insertAbsent(table, model, key, jsonOfBytes(1 + (op.seed % 3000), op.seed), op.numbers);
          seen.inserts++;
          break;
        }
        const { lo, hi } = valueBytesOfClass(keyBytesOf(key), entry.size);
        const bytes = op.grow || lo === 1 ? hi + 1 + op.extra : Math.max(1, lo - 1 - op.extra);
        const value = jsonOfBytes(bytes, op.seed);
        if (classOf(key, value) === entry.size) throw new Error('the new value should change the class');
        rewritePresent(table, model, key, value, op.numbers);
        seen.changedClass++;
        break;
      }
      case 'remove': {
        if (entry === undefined) {
          expectAbsent(table, key);
        } else {
          removePresent(table, model, key);
          expectAbsent(table, key);
          seen.removes++;
        }
        break;
      }
      case 'find': {
        if (entry === undefined) expectAbsent(table, key);
        else expectRecord(table, key, entry);
        break;
      }
    }
    expectMatchesModel(table, model, keys);
  }
}

const extraKeysArb = fc.uniqueArray(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }), { maxLength: 10 });

describe('RecordTable against a model', () => {
  it('insert, find, rewrite, removeAt and maintain keep every key, value and number readable', () => {
    const seen: Coverage = { inserts: 0, keptClass: 0, changedClass: 0, removes: 0, between: 0 };
    fc.assert(
      fc.property(extraKeysArb, fc.array(opArb, { minLength: 150, maxLength: 300 }), (extraKeys, ops) => runModel(extraKeys, ops, seen)),
      { numRuns: 100 },
    );
    expect(seen.inserts).toBeGreaterThan(1000);
    expect(seen.keptClass).toBeGreaterThan(500);
    expect(seen.changedClass).toBeGreaterThan(500);
    expect(seen.removes).toBeGreaterThan(500);
    expect(seen.between).toBeGreaterThan(100);
  });

  it('the same, with a degenerate hash: keys that are prefixes of each other share all 32 bits, clusters wrap', () => {
    const seen: Coverage = { inserts: 0, keptClass: 0, changedClass: 0, removes: 0, between: 0 };
    withWeakHash(() => {
      // Premise: the table hashes with the degenerate hash; 'a' and 'abcd' collide in all 32 bits.
      const { table, hashKey } = newTable();
      expect(hashOf(hashKey, 'abcd')).toBe(hashOf(hashKey, 'a'));
      table.insertAt(table.probe('a'), '1', numbersFor(1));
      expect(table.find('a')).toBe(INITIAL_SLOTS - 1 - (97 % 5));
      expect(table.find('abcd')).toBe(-1);
      fc.assert(
        fc.property(extraKeysArb, fc.array(opArb, { minLength: 100, maxLength: 200 }), (extraKeys, ops) => runModel(extraKeys, ops, seen)),
        { numRuns: 40 },
      );
    });
    expect(seen.inserts).toBeGreaterThan(300);
    expect(seen.removes).toBeGreaterThan(150);
  });

  it('classBytes(address) is recordClassBytes(48 + key bytes + value bytes) of what was stored', () => {
    expect(RECORD_HEADER_BYTES).toBe(HEADER);
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 300 }),
        fc.oneof(
          valueArb,
          fc.integer({ min: 1, max: 40_000 }).map((bytes) => jsonOfBytes(bytes, bytes)),
        ),
        numbersArb,
        (key, value, numbers) => {
          const { table } = newTable();
          const address = table.insertAt(table.probe(key), value, numbers);
          const size = recordClassBytes(HEADER + utf8(key) + utf8(value));
          expect(table.classBytes(address)).toBe(size);
          expect(table.keyBytes(address)).toBe(utf8(key));
          expect(table.key(address)).toBe(key);
          expect(table.value(address)).toBe(value);
          // Rewritten, the record reports the class of its new contents.
          const other = value.length > 1 ? '1' : jsonOfBytes(700, 1);
          const moved = table.rewrite(table.find(key), other, numbers);
          expect(table.classBytes(moved)).toBe(recordClassBytes(HEADER + utf8(key) + utf8(other)));
          expect(table.value(moved)).toBe(other);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('recordClassBytes rounds up to a multiple of 8, by at most 1/8 past 256 bytes, and is a fixed point on classes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 * MiB }), (bytes) => {
        const size = recordClassBytes(bytes);
        expect(size).toBeGreaterThanOrEqual(bytes);
        expect(size % 8).toBe(0);
        if (bytes <= 256) expect(size).toBe((bytes + 7) & ~7);
        else expect(size - bytes).toBeLessThan(bytes / 8);
        expect(recordClassBytes(size)).toBe(size);
        expect(recordClassBytes(bytes + 1)).toBeGreaterThanOrEqual(size);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('RecordTable at scale', () => {
  it('grows the index past 50,000 keys, removes a random half, reinserts, and every key matches the model', () => {
    const random = mulberry32(0x5eed);
    const { table } = newTable();
    const model: Model = new Map();
    const forms = [(i: number) => `k${i}`, (i: number) => `キー${i}`, (i: number) => `🔑${i}/e\u0301`, (i: number) => i.toString(36)];
    const keys = Array.from({ length: 50_000 }, (_, i) => (forms[i % forms.length] as (i: number) => string)(i));
    expect(new Set(keys).size).toBe(keys.length);
    const valueFor = (i: number, round: number): string =>
      i % 97 === 0
        ? jsonOfBytes(200 + ((i * 31 + round) % 3000), i + round)
        : `{"i":${i},"r":${round},"s":"${'é'.repeat((i + round) % 40)}"}`;

    const slotsBefore = indexSlots(table);
    expect(slotsBefore).toBe(INITIAL_SLOTS);
    keys.forEach((key, i) => {
      insertAbsent(table, model, key, valueFor(i, 0), numbersFor(i));
    });
    // 50,000 entries at a load of at most 1/2: 1024 → 131072 slots, seven doublings.
    expect(indexSlots(table)).toBe(131072);
    expectMatchesModel(table, model, keys);

    // Remove a random half, in random order; spot-check neighbours of the hole as we go.
    const order = shuffle(
      keys.map((_, i) => i),
      random,
    );
    const removed = order.slice(0, 25_000);
    for (const [n, i] of removed.entries()) {
      const key = keys[i] as string;
      removePresent(table, model, key);
      expectAbsent(table, key);
      const probe = keys[order[25_000 + (n % 25_000)] as number] as string;
      expectRecord(table, probe, model.get(probe) as ModelEntry);
    }
    expectMatchesModel(table, model, keys);

    // Mixed: reinsert removed keys (some with new values), remove present ones, rewrite others.
    for (let n = 0; n < 40_000; n++) {
      const i = Math.floor(random() * keys.length);
      const key = keys[i] as string;
      const entry = model.get(key);
      const choice = random();
      if (entry === undefined) {
        if (choice < 0.7) insertAbsent(table, model, key, valueFor(i, n), numbersFor(i + n));
        else expectAbsent(table, key);
      } else if (choice < 0.4) {
        removePresent(table, model, key);
        expectAbsent(table, key);
      } else if (choice < 0.7) {
        rewritePresent(table, model, key, valueFor(i, n + 1), numbersFor(n));
        expectRecord(table, key, model.get(key) as ModelEntry);
      } else {
        expectRecord(table, key, entry);
      }
    }
    expectMatchesModel(table, model, keys);

    // Everything out, in random order, then everything back in.
    for (const key of shuffle([...model.keys()], random)) removePresent(table, model, key);
    expect(table.size).toBe(0);
    for (const key of keys) expectAbsent(table, key);
    // Maintenance halves the empty index back to its first size and gives back all slabs but the current one.
    table.maintain();
    expect(indexSlots(table)).toBe(INITIAL_SLOTS);
    expect(table.reservedBytes).toBe(SLAB);
    for (const key of keys) expectAbsent(table, key);
    keys.forEach((key, i) => {
      insertAbsent(table, model, key, valueFor(i, 7), numbersFor(i));
    });
    expectMatchesModel(table, model, keys);
  });

  it('finds all of 200,000 short keys, and the rest stay findable when removing in insertion or reverse order', () => {
    const keys = Array.from({ length: 200_000 }, (_, i) => i.toString(36));
    const shortValue = (i: number): string => String(i * 7);
    const numbers = numbersFor(1);

    for (const direction of ['insertion', 'reverse'] as const) {
      const { table, hashKey } = newTable();
      keys.forEach((key, i) => {
        same(table.find(key), -1, 'absent before insert');
        table.insertAt(table.probe(key), shortValue(i), numbers);
      });
      same(table.size, keys.length, 'size');
      const checkAll = (removedCount: number): void => {
        const order = direction === 'insertion' ? keys.map((_, i) => i) : keys.map((_, i) => keys.length - 1 - i);
        for (const [n, i] of order.entries()) {
          const position = table.find(keys[i] as string);
          if (n < removedCount) same(position, -1, `removed ${keys[i]}`);
          else {
            if (position < 0) expect(position, `present ${keys[i]}`).toBeGreaterThanOrEqual(0);
            same(table.value(table.addressAt(position)), shortValue(i), `value of ${keys[i]}`);
          }
        }
      };
      checkAll(0);

      // Birthday: about n²/2³³ ≈ 4.7 pairs of these keys share all 32 bits of their hash.
      const byHash = new Map<number, string>();
      let fullCollisions = 0;
      for (const key of keys) {
        const hash = hashOf(hashKey, key);
        if (byHash.has(hash)) fullCollisions++;
        else byHash.set(hash, key);
      }
      // Premise check of hashOf against the table: found positions are at or after the key's home.
      for (const key of keys.slice(0, 1000)) {
        const home = hashOf(hashKey, key) & (indexSlots(table) - 1);
        const distance = (table.find(key) - home + indexSlots(table)) % indexSlots(table);
        expect(distance).toBeLessThan(1000);
      }
      // About 4.7 expected; far more would mean a badly spread hash.
      expect(fullCollisions).toBeLessThan(40);

      const order = direction === 'insertion' ? keys : [...keys].reverse();
      for (const [n, key] of order.entries()) {
        const position = table.find(key);
        if (position < 0) expect(position, `present ${key}`).toBeGreaterThanOrEqual(0);
        table.removeAt(position);
        if ((n + 1) % 50_000 === 0) checkAll(n + 1);
      }
      same(table.size, 0, 'size after removing everything');
    }
  });
});

describe('RecordTable with keys that collide (hash key known through the mock)', () => {
  /** Keys whose home slot in a 1024-slot index is one of `homes`, from a counter. */
  function keysWithHomes(hashKey: HashKey, homes: readonly number[], count: number, prefix: string): string[] {
    const wanted = new Set(homes);
    const found: string[] = [];
    for (let i = 0; found.length < count; i++) {
      const key = `${prefix}${i}`;
      if (wanted.has(hashOf(hashKey, key) & (INITIAL_SLOTS - 1))) found.push(key);
    }
    return found;
  }

  it('a cluster of 450 keys from five home slots across the end of the index survives removal in any order', () => {
    const random = mulberry32(0xc0111de);
    const homes = [1021, 1022, 1023, 0, 1];
    for (const order of ['random', 'insertion', 'reverse'] as const) {
      const { table, hashKey } = newTable();
      const model: Model = new Map();
      const keys = keysWithHomes(hashKey, homes, 450, order === 'random' ? 'c' : 'd');
      // A key whose home is 1020, just before the cluster, and one at 2, just inside it.
      const [before] = keysWithHomes(hashKey, [1020], 1, 'before');
      const [inside] = keysWithHomes(hashKey, [2], 1, 'inside');
      const all = [before as string, ...keys, inside as string];
      shuffle(all, random).forEach((key, i) => {
        insertAbsent(table, model, key, jsonOfBytes(1 + (i % 90), i), numbersFor(i));
      });
      expect(indexSlots(table)).toBe(INITIAL_SLOTS);
      // The cluster wraps: keys whose home is at the end of the index sit at its start.
      const wrapped = keys.filter((key) => {
        const home = hashOf(hashKey, key) & (INITIAL_SLOTS - 1);
        return home >= 1021 && table.find(key) < home;
      });
      expect(wrapped.length).toBeGreaterThan(50);
      expectMatchesModel(table, model, all);

      const removal = order === 'random' ? shuffle([...all], random) : order === 'insertion' ? [...all] : [...all].reverse();
      for (const key of removal) {
        removePresent(table, model, key);
        expectMatchesModel(table, model, all);
      }
      expect(table.size).toBe(0);
    }
  });

  it('600 keys sharing one home slot: found through growth, removal and reinsertion', () => {
    const random = mulberry32(0x600);
    const { table, hashKey } = newTable();
    const model: Model = new Map();
    const keys = keysWithHomes(hashKey, [1023], 600, 'same-home-');
    keys.forEach((key, i) => {
      insertAbsent(table, model, key, jsonOfBytes(1 + (i % 200), i), numbersFor(i));
      if (i % 50 === 0) expectMatchesModel(table, model, keys);
    });
    expect(indexSlots(table)).toBe(2048);
    expectMatchesModel(table, model, keys);
    const half = shuffle([...keys], random).slice(0, 300);
    for (const key of half) {
      removePresent(table, model, key);
      if (random() < 0.2) expectMatchesModel(table, model, keys);
    }
    expectMatchesModel(table, model, keys);
    half.forEach((key, i) => {
      if (i % 2 === 0) insertAbsent(table, model, key, jsonOfBytes(300 + i, i), numbersFor(i + 1));
    });
    expectMatchesModel(table, model, keys);
  });

  it('keys of equal length whose 32-bit hashes are equal are told apart by their bytes (short and > 32 bytes)', () => {
    for (const prefix of ['', 'a long common prefix, longer than 32 bytes: ']) {
      const { table, hashKey } = newTable();
      const seen = new Map<number, string>();
      const pairs: Array<[string, string]> = [];
      for (let i = 0; pairs.length < 6 && i < 3_000_000; i++) {
        const key = `${prefix}${i.toString(36).padStart(6, '0')}`;
        const hash = hashOf(hashKey, key);
        const other = seen.get(hash);
        if (other === undefined) seen.set(hash, key);
        else pairs.push([other, key]);
      }
      expect(pairs.length).toBe(6);
      const model: Model = new Map();
      const all = pairs.flat();
      for (const [a, b] of pairs) {
        expect(utf8(a)).toBe(utf8(b));
        expect(hashOf(hashKey, a)).toBe(hashOf(hashKey, b));
        // One of the pair present: the other is still absent.
        insertAbsent(table, model, a, `"${a}"`, numbersFor(1));
        expectAbsent(table, b);
        insertAbsent(table, model, b, `"${b}"`, numbersFor(2));
        expectMatchesModel(table, model, all);
      }
      for (const [a, b] of pairs) {
        rewritePresent(table, model, b, jsonOfBytes(500, 3), numbersFor(3));
        expectMatchesModel(table, model, all);
        removePresent(table, model, a);
        expectMatchesModel(table, model, all);
      }
      for (const [a, b] of pairs) {
        insertAbsent(table, model, a, '1', numbersFor(4));
        removePresent(table, model, b);
        expectMatchesModel(table, model, all);
      }
    }
  });
});

describe('RecordTable large records', () => {
  it('records past 1 MiB get a slab of their own, freed with them; rewrites between small and large keep everything readable', () => {
    const { table } = newTable();
    const model: Model = new Map();
    const smallKeys = Array.from({ length: 100 }, (_, i) => `small-${i}-é`);
    smallKeys.forEach((key, i) => {
      insertAbsent(table, model, key, jsonOfBytes(1 + i * 10, i), numbersFor(i));
    });
    const base = table.reservedBytes;
    expect(base).toBe(SLAB);

    const key = 'große-😀-key';
    const allKeys = [...smallKeys, key];
    const v15 = jsonOfBytes(1.5 * MiB, 15);
    const v5 = jsonOfBytes(5 * MiB, 5);
    const v5b = jsonOfBytes(5 * MiB + 1000, 55);
    const class15 = classOf(key, v15);
    const class5 = classOf(key, v5);
    expect(class15).toBeGreaterThanOrEqual(1.5 * MiB);
    expect(class5).toBeGreaterThan(SLAB);
    expect(classOf(key, v5b)).toBe(class5);

    const first = insertAbsent(table, model, key, v15, numbersFor(1));
    expect(table.classBytes(first)).toBe(class15);
    expect(table.reservedBytes).toBe(base + class15);
    expectMatchesModel(table, model, allKeys);

    rewritePresent(table, model, key, '{"small":true}', numbersFor(2));
    expect(table.reservedBytes).toBe(base);
    expectMatchesModel(table, model, allKeys);

    const big = rewritePresent(table, model, key, v5, numbersFor(3));
    expect(table.classBytes(big)).toBe(class5);
    expect(table.reservedBytes).toBe(base + class5);
    expectMatchesModel(table, model, allKeys);

    // Same class: rewritten in place in its own slab.
    expect(rewritePresent(table, model, key, v5b, numbersFor(4))).toBe(big);
    expect(table.reservedBytes).toBe(base + class5);
    expectMatchesModel(table, model, allKeys);

    rewritePresent(table, model, key, v15, numbersFor(5));
    expect(table.reservedBytes).toBe(base + class15);
    expectMatchesModel(table, model, allKeys);

    removePresent(table, model, key);
    expect(table.reservedBytes).toBe(base);
    expectMatchesModel(table, model, allKeys);

    // Two large records; the first freed, its slab number is reused by the next small-record slab.
    const a = 'large-a';
    const b = 'large-b';
    insertAbsent(table, model, a, v15, numbersFor(6));
    insertAbsent(table, model, b, v5, numbersFor(7));
    expect(table.reservedBytes).toBe(base + classOf(a, v15) + classOf(b, v5));
    removePresent(table, model, a);
    expect(table.reservedBytes).toBe(base + classOf(b, v5));
    const fill = Array.from({ length: 5000 }, (_, i) => `fill-${i}`);
    fill.forEach((k, i) => {
      insertAbsent(table, model, k, jsonOfBytes(1000, i), numbersFor(i));
    });
    // 5,000 records of 1,064 bytes need two more slabs at most.
    expect(table.reservedBytes).toBeLessThanOrEqual(base + classOf(b, v5) + 2 * SLAB);
    expectMatchesModel(table, model, [...allKeys, a, b, ...fill]);
    removePresent(table, model, b);
    expectMatchesModel(table, model, [...allKeys, a, b, ...fill]);
    insertAbsent(table, model, a, v5b, numbersFor(8));
    expectMatchesModel(table, model, [...allKeys, a, b, ...fill]);
  });

  it('the largest shared class (960 KiB) stays in slabs; the next class (1 MiB) gets a slab of its own', () => {
    const { table } = newTable();
    const model: Model = new Map();
    const key = 'edge';
    const sharedValue = jsonOfBytes(983040 - HEADER - utf8(key), 1);
    const ownValue = jsonOfBytes(983041 - HEADER - utf8(key), 2);
    expect(classOf(key, sharedValue)).toBe(983040);
    expect(classOf(key, ownValue)).toBe(MiB);

    insertAbsent(table, model, key, sharedValue, numbersFor(1));
    expect(table.reservedBytes).toBe(SLAB);
    removePresent(table, model, key);
    expect(table.reservedBytes).toBe(SLAB);
    insertAbsent(table, model, key, ownValue, numbersFor(2));
    expect(table.reservedBytes).toBe(SLAB + MiB);
    expectMatchesModel(table, model, [key]);
    rewritePresent(table, model, key, sharedValue, numbersFor(3));
    expect(table.reservedBytes).toBe(SLAB); // the freed 960 KiB record is reused
    expectMatchesModel(table, model, [key]);
    removePresent(table, model, key);
    expect(table.reservedBytes).toBe(SLAB);
  });
});

describe('RecordTable reuse of freed records', () => {
  it('removing N records of a class and inserting N of the same class does not grow reservedBytes', () => {
    const random = mulberry32(0x7e5e);
    const { table } = newTable();
    const model: Model = new Map();
    // Something else in the table, so freed records are not simply the slab tail.
    for (let i = 0; i < 300; i++) insertAbsent(table, model, `other-${i}`, jsonOfBytes(1 + i * 3, i), numbersFor(i));

    const cases = [
      { size: 88, n: 2000 },
      { size: 256, n: 1000 },
      { size: 288, n: 1000 },
      { size: 4608, n: 400 },
      { size: 100 * 1024 + 12 * 1024, n: 60 },
    ];
    let round = 0;
    for (const { size, n } of cases) {
      expect(recordClassBytes(size)).toBe(size);
      const makeKey = (i: number, r: number): string => `${r % 2 === 0 ? 'c' : 'クラス'}-${size}-${r}-${i}`;
      const valueFor = (key: string, i: number): string => {
        const { lo, hi } = valueBytesOfClass(utf8(key), size);
        return jsonOfBytes(lo + Math.floor(random() * (hi - lo + 1)), i);
      };
      const keys = Array.from({ length: n }, (_, i) => makeKey(i, round));
      keys.forEach((key, i) => {
        insertAbsent(table, model, key, valueFor(key, i), numbersFor(i));
      });
      const reserved = table.reservedBytes;
      const free = table.freeBytes;
      for (const key of shuffle([...keys], random)) removePresent(table, model, key);
      expect(table.reservedBytes).toBe(reserved);
      expect(table.freeBytes).toBe(free + n * size);
      round++;
      const next = Array.from({ length: n }, (_, i) => makeKey(i, round));
      next.forEach((key, i) => {
        const value = valueFor(key, i);
        expect(classOf(key, value)).toBe(size);
        insertAbsent(table, model, key, value, numbersFor(i));
      });
      expect(table.reservedBytes).toBe(reserved);
      expect(table.freeBytes).toBe(free);

      // Freed by rewrites too: move the N records to another class, then insert N of this class.
      const reservedBeforeMove = table.reservedBytes;
      for (const key of next) rewritePresent(table, model, key, jsonOfBytes(size + 100, 9), numbersFor(9));
      const reservedAfterMove = table.reservedBytes;
      expect(reservedAfterMove).toBeGreaterThanOrEqual(reservedBeforeMove);
      round++;
      const third = Array.from({ length: n }, (_, i) => makeKey(i, round));
      third.forEach((key, i) => {
        insertAbsent(table, model, key, valueFor(key, i), numbersFor(i));
      });
      expect(table.reservedBytes).toBe(reservedAfterMove);
      round++;
      expectMatchesModel(table, model, [...model.keys(), ...keys]);
    }
  });
});

describe('RecordTable maintenance', () => {
  it('after mass deletes, maintain moves live records out of sparse slabs and gives memory back; every key still reads back', () => {
    const random = mulberry32(0x3a17);
    const { table } = newTable();
    const model: Model = new Map();
    const keys = Array.from({ length: 24_000 }, (_, i) => (i % 1000 === 0 ? `${'長'.repeat(2000)}-${i}` : `m${i}-ü`));
    const valueFor = (i: number, round: number): string => jsonOfBytes(80 + ((i * 7919 + round * 31) % 1800), i + round);
    keys.forEach((key, i) => {
      insertAbsent(table, model, key, valueFor(i, 0), numbersFor(i));
    });
    const full = table.reservedBytes;
    expect(full).toBeGreaterThan(6 * SLAB);

    // Three fifths out, at random: well over a quarter of what is held is now free records, and every
    // full slab keeps about 1.6 MiB of live records.
    for (const key of shuffle([...keys], random).slice(0, 14_400)) removePresent(table, model, key);
    expect(table.freeBytes).toBeGreaterThan(Math.max(2 * SLAB, table.reservedBytes / 4));
    // A large record in a slab of its own, with fewer live bytes (1 MiB) than any shared slab: not a slab to empty.
    const large = 'large-during-maintenance';
    insertAbsent(table, model, large, jsonOfBytes(MiB - HEADER - utf8(large), 77), numbersFor(77));
    expect(model.get(large)?.size).toBe(MiB);
    keys.push(large);
    expectMatchesModel(table, model, keys);

    // A find that returns -1, then maintenance that moves records (through the scratch buffer), then the insert.
    const late = keys.find((key) => !model.has(key)) as string;
    same(table.find(late), -1, 'absent before insert');
    const reservedBefore = table.reservedBytes;
    // maintain() moves at most 256 KiB of records a call: a slab is given back after a few calls.
    let first = 0;
    for (let k = 0; k < 200 && first < SLAB; k++) first += table.maintain();
    expect(first).toBeGreaterThanOrEqual(SLAB);
    expect(table.reservedBytes).toBeLessThan(reservedBefore);
    table.insertAt(table.probe(late), '"late"', numbersFor(5));
    model.set(late, entryOf(late, '"late"', numbersFor(5)));
    expectMatchesModel(table, model, keys);

    let calls = 1;
    let given = 0;
    let idle = 0;
    const reservedStart = table.reservedBytes;
    for (;;) {
      const released = table.maintain();
      calls++;
      // A sample after each move (any damage stays for the full check below), and the large record.
      for (let n = 0; n < 1000; n++) expectMatchesEntry(table, model, keys[Math.floor(random() * keys.length)] as string);
      expectMatchesEntry(table, model, large);
      given += released;
      idle = released === 0 ? idle + 1 : 0;
      // Done when twenty calls in a row (more than a slab's worth of moving) give nothing back.
      if (idle === 20 || calls === 800) break;
    }
    expectMatchesModel(table, model, keys);
    expect(calls).toBeLessThan(800);
    // Moving records may take new slabs on the way; never more than is given back overall.
    expect(table.reservedBytes).toBeLessThanOrEqual(reservedStart);
    expect(given).toBeGreaterThan(0);
    expect(table.reservedBytes).toBeLessThan(full);
    // Maintenance stops once free records are at most a quarter of what is held (or two slabs).
    expect(table.freeBytes).toBeLessThanOrEqual(Math.max(2 * SLAB, table.reservedBytes / 4));

    // A find that returns -1, maintenance moving records (and reusing the scratch buffer), then the insert.
    for (const [n, key] of shuffle(
      keys.filter((k) => !model.has(k)),
      random,
    )
      .slice(0, 3000)
      .entries()) {
      same(table.find(key), -1, 'absent before insert');
      if (n % 500 === 0) table.maintain();
      table.insertAt(table.probe(key), valueFor(n, 2), numbersFor(n));
      model.set(key, entryOf(key, valueFor(n, 2), numbersFor(n)));
    }
    expectMatchesModel(table, model, keys);

    // Rewrites and removes after records moved, with maintenance in between.
    const present = shuffle([...model.keys()], random);
    for (const [n, key] of present.entries()) {
      if (n % 3 === 0) removePresent(table, model, key);
      else if (n % 3 === 1) rewritePresent(table, model, key, valueFor(n, 3), numbersFor(n + 3));
      if (n % 2000 === 0) table.maintain();
    }
    expectMatchesModel(table, model, keys);

    // Everything out: all slabs but the current one are given back, and the index shrinks.
    for (const key of [...model.keys()]) removePresent(table, model, key);
    table.maintain();
    expect(table.reservedBytes).toBe(SLAB);
    expect(indexSlots(table)).toBe(INITIAL_SLOTS);
    keys.slice(0, 5000).forEach((key, i) => {
      insertAbsent(table, model, key, valueFor(i, 4), numbersFor(i));
    });
    expectMatchesModel(table, model, keys);
  });

  it('maintain keeps large records in their own slabs and leaves a table without waste alone', () => {
    const { table } = newTable();
    const model: Model = new Map();
    const keys = ['big-1', 'big-2', 'small'];
    insertAbsent(table, model, 'big-1', jsonOfBytes(2 * MiB, 1), numbersFor(1));
    insertAbsent(table, model, 'small', '"s"', numbersFor(2));
    insertAbsent(table, model, 'big-2', jsonOfBytes(1.25 * MiB, 2), numbersFor(3));
    const reserved = table.reservedBytes;
    expect(table.maintain()).toBe(0);
    expect(table.reservedBytes).toBe(reserved);
    expectMatchesModel(table, model, keys);
    removePresent(table, model, 'big-1');
    expect(table.maintain()).toBe(0);
    expectMatchesModel(table, model, keys);
  });

  it('addressAt refuses a position that holds no record', () => {
    const { table } = newTable();
    expect(() => table.addressAt(table.find('absent'))).toThrow(RangeError);
    table.insertAt(table.probe('present'), '1', numbersFor(1));
    const position = table.find('present');
    expect(() => table.addressAt(position)).not.toThrow();
    expect(() => table.addressAt(((position + 1) % INITIAL_SLOTS) as IndexPosition)).toThrow(RangeError);
    expect(() => table.addressAt(INITIAL_SLOTS as IndexPosition)).toThrow(RangeError);
    table.removeAt(position);
    expect(() => table.addressAt(position)).toThrow(RangeError);
  });

  it('insertAt refuses a probe that another change has spent, or one that found its key', () => {
    const { table } = newTable();
    const probe = table.probe('a');
    table.insertAt(table.probe('b'), '1', numbersFor(1));
    // The probe object is reused: 'a' was probed before 'b'; inserting with it now would insert under 'b'.
    expect(() => table.insertAt(probe, '1', numbersFor(2))).toThrow('insertAt needs a fresh probe that did not find its key');
    const stale = table.probe('a');
    table.removeAt(table.find('b'));
    expect(() => table.insertAt(stale, '1', numbersFor(3))).toThrow('insertAt needs a fresh probe that did not find its key');
    table.insertAt(table.probe('c'), '1', numbersFor(4));
    expect(() => table.insertAt(table.probe('c'), '2', numbersFor(5))).toThrow('insertAt needs a fresh probe that did not find its key');
    expect(table.size).toBe(1);
    expect(table.value(table.addressAt(table.find('c')))).toBe('1');
  });

  it('a call that is overdue stops moving records after 15 of them, and later calls finish the slab; every key still reads back', () => {
    const random = mulberry32(0x51ab);
    const { table } = newTable();
    const model: Model = new Map();
    const keys = Array.from({ length: 150_000 }, (_, i) => `k${i}`);
    keys.forEach((key, i) => {
      insertAbsent(table, model, key, jsonOfBytes(100, i), numbersFor(i));
    });
    for (const key of shuffle([...keys], random).slice(0, 90_000)) removePresent(table, model, key);
    const reservedBefore = table.reservedBytes;
    let movedInCall = 0;
    const perCall: number[] = [];
    let released = 0;
    for (let calls = 0; calls < 5000 && released === 0; calls++) {
      movedInCall = 0;
      released += table.maintain({ overdue: () => true, moved: () => movedInCall++ });
      perCall.push(movedInCall);
    }
    expect(released).toBeGreaterThanOrEqual(SLAB);
    expect(table.reservedBytes).toBeLessThan(reservedBefore);
    // Each call moved at most 15 records (it asks after every 16th), and they were many calls.
    expect(Math.max(...perCall)).toBe(15);
    expect(perCall.filter((n) => n > 0).length).toBeGreaterThan(10);
    expectMatchesModel(table, model, keys);
  });
});

describe('RecordTable loading UTF-8 as a snapshot file holds it (probeUtf8, insertUtf8At)', () => {
  it('a key and value given as bytes are stored exactly as probe and insertAt store them, and found by either probe', () => {
    const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 });
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(text, fc.string({ unit: 'grapheme', maxLength: 300 })), { selector: ([k]) => k, maxLength: 40 }),
        (pairs) => {
          const { table: byString } = newTable();
          const { table: byBytes } = newTable();
          // The bytes sit inside a larger buffer, at an offset, as in a record read from a file.
          const file = Buffer.alloc(64 * 1024, 0xee);
          for (const [i, [key, value]] of pairs.entries()) {
            byString.insertAt(byString.probe(key), value, numbersFor(i + 1));
            const keyStart = 7 + i;
            const keyBytes = file.write(key, keyStart, 'utf8');
            const valueStart = keyStart + keyBytes + 3;
            const valueBytes = file.write(value, valueStart, 'utf8');
            const probe = byBytes.probeUtf8(file, keyStart, keyBytes);
            expect(probe.position).toBe(-1);
            byBytes.insertUtf8At(probe, file, valueStart, valueBytes, numbersFor(i + 1));
            file.fill(0xee);
          }
          expect(byBytes.size).toBe(pairs.length);
          for (const [i, [key, value]] of pairs.entries()) {
            const address = byBytes.addressAt(byBytes.find(key));
            expect(byBytes.key(address)).toBe(key);
            expect(byBytes.value(address)).toBe(value);
            expect(byBytes.revision(address)).toBe(numbersFor(i + 1).revision);
            expect(byBytes.classBytes(address)).toBe(byString.classBytes(byString.addressAt(byString.find(key))));
            // Probing the key's bytes again finds it: the key was copied, not left pointing into the file.
            const again = Buffer.from(key, 'utf8');
            expect(byBytes.probeUtf8(again, 0, again.length).position).toBe(byBytes.find(key));
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a probe by bytes is never taken for the probe of a key (reprobe probes again)', () => {
    const { table } = newTable();
    table.insertAt(table.probe('a'), '1', numbersFor(1));
    const bytes = Buffer.from('b');
    expect(table.probeUtf8(bytes, 0, 1).key).toBe('');
    expect(table.reprobe('a').position).toBe(table.find('a'));
    expect(table.reprobe('a').key).toBe('a');
  });
});

describe('RecordTable with a degenerate hash', () => {
  it('1,500 keys in five fully colliding groups (by first byte): found through growth, removal in random order and maintenance', () => {
    const random = mulberry32(0x3ea4);
    withWeakHash(() => {
      const { table } = newTable();
      const model: Model = new Map();
      const keys = Array.from({ length: 1500 }, (_, i) => `${'abcde'[i % 5]}${'w'.repeat(i % 40)}${i}`);
      keys.forEach((key, i) => {
        insertAbsent(table, model, key, jsonOfBytes(1 + (i % 300), i), numbersFor(i));
      });
      expect(indexSlots(table)).toBe(4096);
      expectMatchesModel(table, model, keys);
      for (const [n, key] of shuffle([...keys], random).entries()) {
        removePresent(table, model, key);
        if (n % 150 === 0) {
          table.maintain();
          expectMatchesModel(table, model, keys);
        }
      }
      expect(table.size).toBe(0);
      table.maintain();
      expect(indexSlots(table)).toBe(INITIAL_SLOTS);
      keys.slice(0, 400).forEach((key, i) => {
        insertAbsent(table, model, key, `"${key}"`, numbersFor(i));
      });
      expectMatchesModel(table, model, keys);
    });
  });
});

describe('RecordTable incremental resize (two tables while the index doubles or halves)', () => {
  type ResizeOp =
    | { kind: 'insert'; key: number; bytes: number }
    | { kind: 'remove'; key: number }
    | { kind: 'rewrite'; key: number; bytes: number }
    | { kind: 'find'; key: number }
    | { kind: 'maintain' }
    | { kind: 'grow' };
  const resizeOpArb: fc.Arbitrary<ResizeOp> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('insert' as const), key: fc.nat(), bytes: fc.integer({ min: 1, max: 400 }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('remove' as const), key: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('rewrite' as const), key: fc.nat(), bytes: fc.integer({ min: 1, max: 400 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('find' as const), key: fc.nat() }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'maintain' as const }) },
  );

  /**
   * Starts from `preload` keys (a table about to double, or one that maintenance will halve),
   * then runs the ops against the model; after every op a sample of keys, at the end all of them.
   */
  function runResizeModel(
    preload: number,
    removeFirst: number,
    ops: readonly ResizeOp[],
    seen: { resizingOps: number; oldHits: number },
  ): void {
    const { table } = newTable();
    const model: Model = new Map();
    const pool = Array.from({ length: 3000 }, (_, i) => (i % 3 === 0 ? `r${i}` : i % 3 === 1 ? `рк-${i}` : `🔑${i}`));
    const keyAt = (i: number): string => pool[i % pool.length] as string;
    for (let i = 0; i < preload; i++) insertAbsent(table, model, keyAt(i), jsonOfBytes(1 + (i % 50), i), numbersFor(i));
    for (let i = 0; i < removeFirst; i++) removePresent(table, model, keyAt(i));
    let n = 0;
    for (const op of ops) {
      if (op.kind === 'grow') {
        for (let k = 2000; !table.resizing && k < 3000; k++) {
          if (!model.has(keyAt(k))) insertAbsent(table, model, keyAt(k), jsonOfBytes(10, k), numbersFor(k));
        }
        expect(table.resizing).toBe(true);
        continue;
      }
      const at = op.kind === 'maintain' ? n : op.key;
      const key = keyAt(at);
      const entry = model.get(key);
      if (table.resizing) seen.resizingOps++;
      switch (op.kind) {
        case 'insert':
          if (entry === undefined) insertAbsent(table, model, key, jsonOfBytes(op.bytes, op.key), numbersFor(op.key));
          else expectRecord(table, key, entry);
          break;
        case 'remove':
          if (entry !== undefined) {
            if (table.find(key) >= 2 ** 32) seen.oldHits++;
            removePresent(table, model, key);
          }
          expectAbsent(table, key);
          break;
        case 'rewrite':
          if (entry !== undefined) rewritePresent(table, model, key, jsonOfBytes(op.bytes, op.key + 1), numbersFor(op.key + 1));
          break;
        case 'find':
          expectMatchesEntry(table, model, key);
          break;
        case 'maintain':
          table.maintain();
          break;
      }
      // A sample of the pool after every op (every key would make the runs slow), all of it now and then.
      if (++n % 100 === 0) expectMatchesModel(table, model, pool);
      else for (let k = 0; k < 8; k++) expectMatchesEntry(table, model, keyAt(at + k * 373));
    }
    expectMatchesModel(table, model, pool);
    // However it stands, maintenance finishes the resize and every key is still where the model says.
    for (let i = 0; i < 100 && table.resizing; i++) table.maintain();
    expect(table.resizing).toBe(false);
    expectMatchesModel(table, model, pool);
  }

  it('reserve sizes an empty index for the entries to come: no resize while they go in; a table holding entries is left as it is', () => {
    const { table } = newTable();
    const model: Model = new Map();
    table.reserve(5000);
    // 5000 entries at a load of at most one half: 16,384 slots, the first power of two past 10,000.
    expect(table.indexSlots).toBe(16_384);
    expect(table.resizing).toBe(false);
    for (let i = 0; i < 5000; i++) {
      insertAbsent(table, model, `k${i}`, jsonOfBytes(1 + (i % 40), i), numbersFor(i));
      if (table.resizing) throw new Error(`a resize began at entry ${i}`);
    }
    expect(table.indexSlots).toBe(16_384);
    expectMatchesModel(table, model, [...model.keys()]);
    table.reserve(1_000_000);
    expect(table.indexSlots).toBe(16_384);
    // Fewer entries than the index already holds room for change nothing either.
    const small = newTable().table;
    small.reserve(10);
    expect(small.indexSlots).toBe(INITIAL_SLOTS);
    // A count no store could hold (a hint from a damaged file) reserves 2^24 entries at most.
    const huge = newTable().table;
    huge.reserve(2 ** 40);
    expect(huge.indexSlots).toBe(2 ** 25);
  });

  const GROW: ResizeOp[] = [{ kind: 'grow' }];

  it('while the index doubles: inserts, removals (from either table), rewrites and maintenance agree with the model', () => {
    const seen = { resizingOps: 0, oldHits: 0 };
    fc.assert(
      fc.property(fc.integer({ min: 900, max: 1024 }), fc.array(resizeOpArb, { minLength: 300, maxLength: 900 }), (preload, ops) =>
        // New keys first until the table starts doubling (past 1,024 keys), whatever the random ops
        // are; they then run while the old table drains.
        runResizeModel(preload, 0, [...GROW, ...ops], seen),
      ),
      { numRuns: 25 },
    );
    // The premise: every run operated on a table in mid-resize (at least its first op after
    // growing), and the runs removed keys still in the old table.
    expect(seen.resizingOps).toBeGreaterThanOrEqual(25);
    expect(seen.oldHits).toBeGreaterThan(0);
  });

  it('while the index halves (maintenance after mass removal): the same', () => {
    const seen = { resizingOps: 0, oldHits: 0 };
    fc.assert(
      fc.property(fc.integer({ min: 1500, max: 2000 }), fc.array(resizeOpArb, { minLength: 200, maxLength: 600 }), (preload, ops) =>
        runResizeModel(preload, preload - 300, [{ kind: 'maintain' }, ...ops], seen),
      ),
      { numRuns: 15 },
    );
    // The premise: the first maintain starts halving, so at least the next op of each run sees two tables.
    expect(seen.resizingOps).toBeGreaterThanOrEqual(15);
  });

  it('a resize moves a bounded number of slots per insert: the old table drains over many inserts, and every key is found meanwhile', () => {
    const { table } = newTable();
    const model: Model = new Map();
    const keys = Array.from({ length: 40_000 }, (_, i) => `grow-${i}`);
    let resizingInserts = 0;
    let longest = 0;
    let run = 0;
    keys.forEach((key, i) => {
      insertAbsent(table, model, key, `${i}`, numbersFor(i));
      if (table.resizing) {
        resizingInserts++;
        run++;
        longest = Math.max(longest, run);
      } else run = 0;
    });
    // The last doubling (32768 → 65536 slots, at 16,385 keys) takes 32768 / 16 = 2048 inserts to drain, give or take clusters.
    expect(indexSlots(table)).toBe(131072);
    expect(longest).toBeGreaterThan(1000);
    expect(longest).toBeLessThan(4096);
    expect(resizingInserts).toBeGreaterThan(3000);
    expectMatchesModel(table, model, keys);
  });

  it('with the degenerate hash (clusters that wrap around the end of the index): growth and removal mid-resize', () => {
    withWeakHash(() => {
      const random = mulberry32(0x2e5);
      const { table } = newTable();
      const model: Model = new Map();
      const keys = Array.from({ length: 1200 }, (_, i) => `${'abcde'[i % 5]}${i}`);
      let sawResize = false;
      keys.forEach((key, i) => {
        insertAbsent(table, model, key, `${i}`, numbersFor(i));
        if (table.resizing) {
          sawResize = true;
          // Remove a random earlier key now and then, from whichever table holds it.
          if (i % 7 === 0) {
            const victim = keys[Math.floor(random() * i)] as string;
            if (model.has(victim)) removePresent(table, model, victim);
          }
          if (i % 25 === 0) expectMatchesModel(table, model, keys);
        }
      });
      expect(sawResize).toBe(true);
      expectMatchesModel(table, model, keys);
      while (table.resizing) table.maintain();
      expectMatchesModel(table, model, keys);
    });
  });
});

/** Record images (RecordTable.adoptRecords) of `entries`, from `start` of a buffer that has other bytes before them. */
function imagesOf(
  entries: ReadonlyArray<readonly [string, string, RecordNumbers]>,
  start = 5,
): { data: Buffer; view: DataView; start: number } {
  const parts: Buffer[] = [Buffer.alloc(start, 0xee)];
  for (const [key, value, n] of entries) {
    const k = Buffer.from(key, 'utf8');
    const v = Buffer.from(value, 'utf8');
    const used = HEADER + k.length + v.length;
    const image = Buffer.alloc((used + 7) & ~7);
    image.writeDoubleLE(n.revision, 0);
    image.writeDoubleLE(n.createdAt, 8);
    image.writeDoubleLE(n.updatedAt, 16);
    image.writeDoubleLE(n.expiresAt, 24);
    image.writeDoubleLE(n.version, 32);
    image.writeUInt32LE(k.length, 40);
    image.writeUInt32LE(v.length, 44);
    k.copy(image, HEADER);
    v.copy(image, HEADER + k.length);
    parts.push(image);
  }
  parts.push(Buffer.alloc(3, 0xee));
  const data = Buffer.concat(parts);
  return { data, view: new DataView(data.buffer, data.byteOffset, data.byteLength), start };
}

/** Adopts `entries` as images into `table`; returns what `added` was told, in order. */
function adopt(table: RecordTable, entries: ReadonlyArray<readonly [string, string, RecordNumbers]>): Array<[RecordAddress, number]> {
  const { data, view, start } = imagesOf(entries);
  const told: Array<[RecordAddress, number]> = [];
  table.adoptRecords(data, view, start, entries.length, (address, hash) => told.push([address, hash]));
  return told;
}

describe('RecordTable adopting record images as a snapshot holds them (adoptRecords)', () => {
  it('stores each record as insertAt would, tells each address and hash in order, and the table works on as usual after', () => {
    const key = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 });
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(key, valueArb, numbersArb), { selector: ([k]) => k, maxLength: 60 }),
        fc.nat(),
        (entries, seed) => {
          const { table, hashKey } = newTable();
          const model: Model = new Map(entries.map(([k, v, n]) => [k, entryOf(k, v, n)]));
          const told = adopt(table, entries);
          expect(told.map(([address]) => table.key(address))).toEqual(entries.map(([k]) => k));
          for (const [i, [, hash]] of told.entries()) expect(hash).toBe(hashOf(hashKey, entries[i]?.[0] as string));
          expect(table.size).toBe(entries.length);
          for (const [k, entry] of model) {
            const address = table.addressAt(table.find(k));
            same(table.value(address), entry.value, 'value');
            same(table.classBytes(address), entry.size, 'class');
            expect({
              version: table.version(address),
              revision: table.revision(address),
              createdAt: table.createdAt(address),
              updatedAt: table.updatedAt(address),
              expiresAt: table.expiresAt(address),
            }).toEqual(entry.numbers);
            // Its image is what it was adopted from.
            const image = table.image(address);
            const from = imagesOf([[k, entry.value, entry.numbers]], 0);
            expect(image.bytes.subarray(image.start, image.start + image.length)).toEqual(from.data.subarray(0, image.length));
          }
          // Then: remove a random half, rewrite and insert; every key still reads back.
          const random = mulberry32(seed);
          for (const [k] of entries) {
            const roll = random();
            if (roll < 0.5) {
              table.removeAt(table.find(k));
              model.delete(k);
            } else if (roll < 0.75) {
              table.rewrite(table.find(k), '"rewritten"', numbersFor(7));
              model.set(k, entryOf(k, '"rewritten"', numbersFor(7)));
            }
          }
          table.insertAt(table.probe('\u0000new'), '1', numbersFor(9));
          model.set('\u0000new', entryOf('\u0000new', '1', numbersFor(9)));
          expect(table.size).toBe(model.size);
          for (const [k, entry] of model) same(table.value(table.addressAt(table.find(k))), entry.value, k);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('a key already held is a RangeError: the records before it stay, the rest are freed and can be adopted again', () => {
    const { table } = newTable();
    const n = numbersFor(1);
    adopt(table, [['held', '0', n]]);
    const reserved = table.reservedBytes;
    const entries = [
      ['a', '1', n],
      ['b', jsonOfBytes(400, 1), n],
      ['held', '2', n],
      ['c', '3', n],
      ['d', '4', n],
    ] as const;
    expect(() => adopt(table, entries)).toThrow(new RangeError('a key loaded twice from one snapshot'));
    expect(table.size).toBe(3);
    expect(table.value(table.addressAt(table.find('held')))).toBe('0');
    expect(table.value(table.addressAt(table.find('b')))).toBe(jsonOfBytes(400, 1));
    expect(table.find('c')).toBe(-1);
    // The freed records (of 'held' again, 'c' and 'd') are reused: adopting them again takes no new slab.
    const freed = table.freeBytes;
    expect(freed).toBe(classOf('held', '2') + classOf('c', '3') + classOf('d', '4'));
    adopt(table, [
      ['c', '3', n],
      ['d', '4', n],
    ]);
    expect(table.size).toBe(5);
    expect(table.reservedBytes).toBe(reserved);
    expect(table.value(table.addressAt(table.find('d')))).toBe('4');
    // A key twice within one call is refused the same way.
    const { table: fresh } = newTable();
    expect(() =>
      adopt(fresh, [
        ['x', '1', n],
        ['y', '2', n],
        ['x', '3', n],
      ]),
    ).toThrow(RangeError);
    expect(fresh.size).toBe(2);
  });

  it("a key held already, met when a run is flushed, frees the record allocated for the next image by that image's size", () => {
    const { table } = newTable();
    const n = numbersFor(1);
    // 48 + 1 + 240 bytes is of class 320, larger than its image (296): it ends the run before it,
    // whose second record is the duplicate.
    const big = jsonOfBytes(240, 7);
    expect(recordClassBytes(HEADER + 1 + 240)).toBeGreaterThan(Math.ceil((HEADER + 1 + 240) / 8) * 8);
    expect(() =>
      adopt(table, [
        ['a', '1', n],
        ['a', '2', n],
        ['B', big, n],
      ]),
    ).toThrow(new RangeError('a key loaded twice from one snapshot'));
    expect(table.size).toBe(1);
    expect(table.freeBytes).toBe(classOf('a', '2') + classOf('B', big));
    // The slab walk of maintain() steps over the freed records by the sizes they were freed with:
    // grow, remove most, let maintain move the rest, and every key still reads back.
    const model = new Map<string, string>([['a', '1']]);
    for (let i = 0; i < 60_000; i++) {
      const value = jsonOfBytes(100 + (i % 50), i);
      table.insertAt(table.probe(`k${i}`), value, n);
      model.set(`k${i}`, value);
    }
    for (let i = 0; i < 60_000; i++) {
      if (i % 10 === 0) continue;
      table.removeAt(table.find(`k${i}`));
      model.delete(`k${i}`);
    }
    const reserved = table.reservedBytes;
    for (let r = 0; r < 200; r++) table.maintain();
    expect(table.reservedBytes).toBeLessThan(reserved);
    for (const [k, v] of model) same(table.value(table.addressAt(table.find(k))), v, k);
    expect(table.size).toBe(model.size);
  });

  it('records past 1 MiB get a slab of their own; records whose class is larger than their image break the run; all read back', () => {
    const { table } = newTable();
    const entries = [
      ['small-1', '1', numbersFor(1)],
      ['big', jsonOfBytes(MiB + 5, 3), numbersFor(2)],
      ['small-2', jsonOfBytes(200, 4), numbersFor(3)],
      ['over-256', jsonOfBytes(300, 5), numbersFor(4)],
      ['small-3', '3', numbersFor(5)],
    ] as const;
    adopt(table, entries);
    for (const [k, v] of entries) {
      const address = table.addressAt(table.find(k));
      expect(table.value(address)).toBe(v);
      expect(table.classBytes(address)).toBe(classOf(k, v));
    }
    expect(table.reservedBytes).toBe(SLAB + classOf('big', entries[1][1]));
  });

  it('with the degenerate hash: 1,500 keys in five fully colliding groups are all found, and none is taken for another', () => {
    withWeakHash(() => {
      const { table } = newTable();
      const entries = Array.from({ length: 1500 }, (_, i) => [`${'abcde'[i % 5]}${i}`, String(i), numbersFor(i + 1)] as const);
      adopt(table, entries);
      for (const [k, v] of entries) expect(table.value(table.addressAt(table.find(k)))).toBe(v);
      expect(() => adopt(table, [['a0', '1', numbersFor(1)]])).toThrow(RangeError);
    });
  });
});
