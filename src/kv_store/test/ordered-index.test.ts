import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countRange, OrderedIndex, type OrderTree, scanPage, treeWalk } from '../src/store/memory/ordered-index.js';
import { type RecordAddress, RecordTable } from '../src/store/memory/record-table.js';

/*
 * The ordered index (pages of record addresses, keys compared in their records, copy-on-write
 * snapshots by page) against a model: a sorted list of keys, in UTF-8 byte order. Enough keys
 * that pages split (512 addresses a page) and merge; adds (in any order, and in key order, which
 * mostly appends), removals and moves (a key's record
 * moving to a new address) interleaved with freezes; every frozen view must keep reading exactly
 * the keys, in order, that the model had when it was frozen, and the live index what the model
 * has now: whole walks, counts by prefix, and paged scans forward and backward.
 *
 * Records are never freed here (a moved or removed key's old record stays readable), as the
 * engine keeps them while a snapshot is pinned.
 */

const byUtf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

// Astral characters and U+E000-U+FFFF sort differently in UTF-16 and UTF-8: both are here.
const PIECES = ['a', 'b', 'z', '/', 'é', '中', '\u{E000}', '\u{FFFD}', '😀', '\u{10000}', '0', '9'];
function poolKey(i: number): string {
  let key = '';
  let n = i;
  do {
    key += PIECES[n % PIECES.length];
    n = Math.floor(n / PIECES.length);
  } while (n > 0);
  return key;
}
const POOL = 5000;
const PREFIXES = ['', 'a', 'b', 'é', '😀', '\u{E000}', 'a/', 'zz', '\u{FFFD}a'];

type Op =
  | { kind: 'add'; from: number; count: number }
  | { kind: 'addSorted'; from: number; count: number }
  | { kind: 'remove'; from: number; count: number; stride: number }
  | { kind: 'move'; from: number; count: number }
  | { kind: 'freeze' }
  | { kind: 'check'; which: number; prefix: number; limit: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('add' as const), from: fc.nat({ max: POOL - 1 }), count: fc.integer({ min: 1, max: 1500 }) }),
  },
  {
    // In key order, as a snapshot loads: most of these sort after every key and are appended.
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('addSorted' as const),
      from: fc.nat({ max: POOL - 1 }),
      count: fc.integer({ min: 1, max: 1500 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('remove' as const),
      from: fc.nat({ max: POOL - 1 }),
      count: fc.integer({ min: 1, max: 1500 }),
      stride: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('move' as const), from: fc.nat({ max: POOL - 1 }), count: fc.integer({ min: 1, max: 300 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'freeze' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('check' as const),
      which: fc.nat(),
      prefix: fc.nat({ max: PREFIXES.length - 1 }),
      limit: fc.integer({ min: 1, max: 700 }),
    }),
  },
);

/** Every key of a scan of `tree` under `prefix`, page by page (`limit` a page), forward or backward. */
function scanAll(tree: OrderTree, prefix: string, limit: number, reverse: boolean): string[] {
  const keys: string[] = [];
  let after: string | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = scanPage(tree, { prefix }, { limit, reverse }, after);
    keys.push(...page.addresses.map((address) => tree.table.key(address)));
    if (page.resumeAfter === undefined) return keys;
    after = page.resumeAfter;
  }
  throw new Error('the scan did not end');
}

function checkView(tree: OrderTree, model: readonly string[], prefix: string, limit: number): void {
  const walked = [...treeWalk(tree)].map(([key]) => key);
  if (walked.length !== model.length || walked.some((k, i) => k !== model[i])) expect(walked).toEqual(model);
  expect(tree.size).toBe(model.length);
  const under = model.filter((k) => k.startsWith(prefix));
  expect(countRange(tree, { prefix })).toBe(under.length);
  expect(scanAll(tree, prefix, limit, false)).toEqual(under);
  expect(scanAll(tree, prefix, limit, true)).toEqual([...under].reverse());
}

function run(ops: readonly Op[], seen: { splits: number; snapshots: number }, stem: string): void {
  const table = new RecordTable();
  const index = new OrderedIndex(table);
  const live = new Map<string, RecordAddress>();
  const frozen: Array<{ tree: OrderTree; keys: string[] }> = [];
  const sorted = (): string[] => [...live.keys()].sort(byUtf8);
  const newRecord = (key: string): RecordAddress => {
    const probe = table.probe(key);
    if (probe.position === -1)
      return table.insertAt(probe, '1', { version: 1, revision: 1, createdAt: 0, updatedAt: 0, expiresAt: Number.POSITIVE_INFINITY });
    // A second record for a key (a move): the old one stays where it is, as for a pinned snapshot.
    return table.rewrite(
      probe.position,
      `${table.value(table.addressAt(probe.position))}1`.slice(0, 40),
      { version: 2, revision: 2, createdAt: 0, updatedAt: 0, expiresAt: Number.POSITIVE_INFINITY },
      true,
    );
  };
  for (const op of ops) {
    switch (op.kind) {
      case 'add':
        for (let i = 0; i < op.count; i++) {
          const key = stem + poolKey((op.from + i) % POOL);
          if (live.has(key)) continue;
          const address = newRecord(key);
          index.add(address);
          live.set(key, address);
        }
        break;
      case 'addSorted': {
        const keys = new Set<string>();
        for (let i = 0; i < op.count; i++) keys.add(stem + poolKey((op.from + i) % POOL));
        for (const key of [...keys].sort(byUtf8)) {
          if (live.has(key)) continue;
          const address = newRecord(key);
          index.add(address);
          live.set(key, address);
        }
        break;
      }
      case 'remove':
        for (let i = 0; i < op.count; i++) {
          const key = stem + poolKey((op.from + i * op.stride) % POOL);
          if (!live.has(key)) continue;
          index.remove(live.get(key) as RecordAddress);
          live.delete(key);
        }
        break;
      case 'move':
        for (let i = 0; i < op.count; i++) {
          const key = stem + poolKey((op.from + i) % POOL);
          if (!live.has(key)) continue;
          const from = live.get(key) as RecordAddress;
          const address = newRecord(key);
          index.move(address, from);
          live.set(key, address);
        }
        break;
      case 'freeze':
        frozen.push({ tree: index.freeze(), keys: sorted() });
        seen.snapshots++;
        break;
      case 'check': {
        const target = op.which % (frozen.length + 1);
        const prefix = stem + (PREFIXES[op.prefix] as string);
        if (target === frozen.length) checkView(index.live, sorted(), prefix, op.limit);
        else {
          const view = frozen[target] as { tree: OrderTree; keys: string[] };
          checkView(view.tree, view.keys, prefix, op.limit);
        }
        break;
      }
    }
    if (live.size > 600) seen.splits++;
  }
  // At the end: the live index and every snapshot, whole, and the addresses of the live one.
  checkView(index.live, sorted(), '', 97);
  for (const view of frozen) checkView(view.tree, view.keys, '', 97);
  const addresses = new Map([...treeWalk(index.live)]);
  for (const [key, address] of live) if (addresses.get(key) !== address) expect(addresses.get(key)).toBe(address);
  expect(index.keysWithPrefix(`${stem}a`)).toEqual(sorted().filter((k) => k.startsWith(`${stem}a`)));
}

describe('OrderedIndex against a model (pages of addresses, copy-on-write snapshots)', () => {
  it('adds, removals, moves and freezes agree with a sorted list, live and in every snapshot', () => {
    const seen = { splits: 0, snapshots: 0 };
    fc.assert(
      // Every run starts with enough keys to fill several pages, and a snapshot of them
      // (in key order or not: in order, every key is appended and pages fill up).
      // Keys from the pool as they are, or behind a stem that makes them share their first 28-40
      // bytes: the search over pages compares a page's first 32 bytes in the page, and reads the
      // record only past them.
      fc.property(
        fc.constantFrom('add' as const, 'addSorted' as const),
        fc.array(opArb, { minLength: 5, maxLength: 25 }),
        fc.constantFrom('', 'k'.repeat(28), 'é'.repeat(15), 's'.repeat(31), 's'.repeat(32), 'x'.repeat(40)),
        (first, ops, stem) => run([{ kind: first, from: 0, count: 1500 }, { kind: 'freeze' }, ...ops], seen, stem),
      ),
      { numRuns: 30 },
    );
    expect(seen.splits).toBeGreaterThanOrEqual(30);
    expect(seen.snapshots).toBeGreaterThanOrEqual(30);
  });

  it('keys added in key order are appended, filling pages, and a snapshot taken between appends keeps its view', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 2999 }), { maxLength: 6 }), (freezeAfter) => {
        const table = new RecordTable();
        const index = new OrderedIndex(table);
        const keys = Array.from({ length: 3000 }, (_, i) => poolKey(i)).sort(byUtf8);
        const frozen: Array<{ tree: OrderTree; size: number }> = [];
        keys.forEach((key, i) => {
          index.add(table.insertAt(table.probe(key), '1', { version: 1, revision: 1, createdAt: 0, updatedAt: 0, expiresAt: 1 }));
          if (freezeAfter.includes(i + 1)) frozen.push({ tree: index.freeze(), size: i + 1 });
        });
        checkView(index.live, keys, '', 100);
        checkView(index.live, keys, 'a', 512);
        for (const view of frozen) checkView(view.tree, keys.slice(0, view.size), '', 100);
      }),
      { numRuns: 20 },
    );
  });

  it('keys added nearly in order (writers interleaving within a window) land in their places, the last page first', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 64 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 2999 }), { maxLength: 4 }),
        (window, seed, freezeAfter) => {
          const table = new RecordTable();
          const index = new OrderedIndex(table);
          const keys = Array.from({ length: 3000 }, (_, i) => poolKey(i)).sort(byUtf8);
          // Shuffled within each window of keys, as concurrent writers of a counter interleave.
          const order = [...keys];
          let state = seed;
          const next = (): number => {
            state = (state * 1103515245 + 12345) % 2 ** 31;
            return state / 2 ** 31;
          };
          for (let start = 0; start < order.length; start += window) {
            for (let i = Math.min(order.length, start + window) - 1; i > start; i--) {
              const j = start + Math.floor(next() * (i - start + 1));
              [order[i], order[j]] = [order[j] as string, order[i] as string];
            }
          }
          const frozen: Array<{ tree: OrderTree; keys: string[] }> = [];
          order.forEach((key, i) => {
            index.add(table.insertAt(table.probe(key), '1', { version: 1, revision: 1, createdAt: 0, updatedAt: 0, expiresAt: 1 }));
            if (freezeAfter.includes(i + 1)) frozen.push({ tree: index.freeze(), keys: order.slice(0, i + 1).sort(byUtf8) });
          });
          checkView(index.live, keys, '', 100);
          for (const view of frozen) checkView(view.tree, view.keys, '', 100);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('keys that sort differently in UTF-16 and UTF-8 are in UTF-8 order', () => {
    const table = new RecordTable();
    const index = new OrderedIndex(table);
    const keys = ['\u{FFFD}', '😀', '\u{E000}', 'z', 'é', '\u{10000}'];
    for (const key of keys) {
      const probe = table.probe(key);
      index.add(table.insertAt(probe, '1', { version: 1, revision: 1, createdAt: 0, updatedAt: 0, expiresAt: 1 }));
    }
    expect([...treeWalk(index.live)].map(([k]) => k)).toEqual(['z', 'é', '\u{E000}', '\u{FFFD}', '\u{10000}', '😀']);
  });
});
