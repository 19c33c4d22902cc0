import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The Node.js lines kv supports, said once for every package: 24 and 22 (the LTS lines; the
 * images run 24) and 20.11+ (end of life, still tested: the build machines run it).
 */

const ROOT = join(import.meta.dirname, '..', '..', '..');
const ENGINES = '^20.11.0 || ^22.11.0 || >=24';
const PACKAGES = [
  'package.json',
  'src/shared/package.json',
  'src/client/package.json',
  'src/kv_store/package.json',
  'src/test_client/package.json',
];

/** Whether `version` (x.y.z) is in `range`: `^x.y.z` and `>=x[.y.z]` alternatives joined by `||`. */
function satisfies(version: string, range: string): boolean {
  const parse = (v: string): number[] => [...v.split('.').map(Number), 0, 0].slice(0, 3);
  const compare = (a: number[], b: number[]): number => (a[0]! - b[0]!) * 1e12 + (a[1]! - b[1]!) * 1e6 + (a[2]! - b[2]!);
  const have = parse(version);
  return range.split('||').some((alternative) => {
    const term = alternative.trim();
    if (term.startsWith('>=')) return compare(have, parse(term.slice(2))) >= 0;
    if (term.startsWith('^')) {
      const low = parse(term.slice(1));
      return have[0] === low[0] && compare(have, low) >= 0;
    }
    throw new Error(`unexpected range term '${term}'`);
  });
}

describe('Node.js versions', () => {
  it('every package states the same engines', () => {
    for (const file of PACKAGES) {
      const pkg = JSON.parse(readFileSync(join(ROOT, file), 'utf8')) as { engines?: { node?: string } };
      expect(pkg.engines?.node, file).toBe(ENGINES);
    }
  });

  it('admits 20.11 and later 20s, 22 LTS, 24 and later; not 18, 20.10, 21 or 23', () => {
    for (const v of ['20.11.0', '20.20.2', '22.11.0', '22.20.1', '24.0.0', '24.11.1', '26.1.0'])
      expect(satisfies(v, ENGINES), v).toBe(true);
    for (const v of ['18.20.0', '20.10.0', '21.7.3', '22.10.0', '23.11.0']) expect(satisfies(v, ENGINES), v).toBe(false);
  });

  it('the Node.js running these tests, and the images, are among them', () => {
    expect(satisfies(process.versions.node, ENGINES), process.versions.node).toBe(true);
    for (const dockerfile of ['src/kv_store/Dockerfile', 'src/test_client/Dockerfile']) {
      const bases = [...readFileSync(join(ROOT, dockerfile), 'utf8').matchAll(/^FROM node:(\d+)-/gm)].map((m) => m[1]);
      expect(bases, dockerfile).toEqual(['24', '24']);
      expect(satisfies(`${bases[0]}.0.0`, ENGINES)).toBe(true);
    }
  });
});
