import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertFreshBuild, KV_STORE_DIR } from './support/kv-process.js';

/**
 * Memory accounting honesty: what MemoryStore charges against KV_MAX_MEMORY_BYTES
 * (store.usedBytes) against what the entries really take on the V8 heap. global.gc is not
 * available inside vitest, so a child `node --expose-gc` runs support/heap-probe.mjs against
 * dist/ and reports one JSON line; the measured ratios are printed for calibrating
 * ENTRY_OVERHEAD_BYTES.
 */

interface ProbeResult {
  readonly name: string;
  readonly entries: number;
  readonly chargedBytes: number;
  readonly heapGrowthBytes: number;
  readonly recordSlabBytes?: number;
  readonly ratio: number;
  readonly heapBytesPerEntry: number;
  readonly chargedBytesPerEntry: number;
  readonly impliedOverheadBytes: number | null;
  readonly retainedBytesPerOverwrite?: number;
}

const PROBE = fileURLToPath(new URL('./support/heap-probe.mjs', import.meta.url));
let probe: { entryOverheadBytes: number; node: string; results: ProbeResult[] };

beforeAll(async () => {
  await assertFreshBuild();
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', PROBE, join(KV_STORE_DIR, 'dist')], {
    timeout: 60_000,
    maxBuffer: 1_048_576,
  });
  probe = JSON.parse(stdout) as typeof probe;
  const rows = probe.results.map(
    (r) =>
      `  ${r.name}: heap/charged ${r.ratio.toFixed(2)} (heap ${r.heapBytesPerEntry.toFixed(0)} B/entry, charged ${r.chargedBytesPerEntry.toFixed(0)} B/entry${
        r.impliedOverheadBytes === null ? '' : `, implied overhead ${r.impliedOverheadBytes.toFixed(0)} B`
      }${r.retainedBytesPerOverwrite === undefined ? '' : `, ${r.retainedBytesPerOverwrite.toFixed(0)} B kept per overwrite`})`,
  );
  console.log(`memory accounting (ENTRY_OVERHEAD_BYTES=${probe.entryOverheadBytes}, node ${probe.node}):\n${rows.join('\n')}`);
}, 90_000);

function result(name: string): ProbeResult {
  const r = probe.results.find((x) => x.name.startsWith(name));
  if (r === undefined) throw new Error(`no probe result '${name}'`);
  return r;
}

describe('memory accounting against the V8 heap', () => {
  it.each(['small ASCII entries', 'small JSON objects', '1 KiB ASCII values', '64 KiB ASCII values', '1 KiB two-byte (CJK) values'])(
    '%s: the charge is within 0.5x-2x of the heap the entries take',
    (name) => {
      const r = result(name);
      expect(r.ratio, `${name}: heap ${r.heapGrowthBytes} vs charged ${r.chargedBytes}`).toBeGreaterThan(0.5);
      expect(r.ratio, `${name}: heap ${r.heapGrowthBytes} vs charged ${r.chargedBytes}`).toBeLessThan(2);
    },
  );

  it('a value sliced from a body padded with whitespace does not keep the body alive', () => {
    // 2,000 bodies of 100 KB: keeping them would be 200 MB. Beyond the record slab the values
    // were copied into, the heap must hold next to nothing per entry.
    const r = result('small values in bodies padded');
    const beyondRecords = (r.heapGrowthBytes - (r.recordSlabBytes ?? 0)) / r.entries;
    expect(beyondRecords, `heap ${r.heapGrowthBytes}, record slabs ${r.recordSlabBytes}, ${r.entries} entries`).toBeLessThan(1024);
  });

  it('a key taken from a path with a long query string does not keep the URL alive', () => {
    // Each overwrite came with a 10 KB query string; keeping the URL would cost ~10 KB each.
    const r = result('PUT with a 10 KB query string');
    expect(r.retainedBytesPerOverwrite, `heap grew ${r.heapGrowthBytes} bytes over ${r.entries} same-size overwrites`).toBeLessThan(1024);
  });
});
