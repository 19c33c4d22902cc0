import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KV_ETCD_NODE_FLAGS, KV_NODE_FLAGS } from './reliability/support/kv-process.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/**
 * kv_store runs with node flags (a 2 MiB young generation, and a first old-generation limit of
 * 64 MiB; docs/performance.md). Every way of starting it must pass the same ones, or the
 * benchmark would measure a different process than the one users run.
 */
describe('kv_store launchers', () => {
  const flags = KV_NODE_FLAGS.join(' ');

  it('npm start is the reference: node <flags> dist/kv_store.js (the one-file bundle of dist/main.js)', () => {
    const pkg = JSON.parse(read('src/kv_store/package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe(`node ${flags} dist/kv_store.js`);
  });

  it('make run, the Docker image, make start (scripts/start.sh) and make bench pass the same flags', () => {
    expect(read('src/kv_store/Makefile')).toContain(`\tnode ${flags} dist/kv_store.js\n`);
    expect(read('src/kv_store/Dockerfile')).toContain(
      `CMD ["node", ${KV_NODE_FLAGS.map((f) => JSON.stringify(f)).join(', ')}, "dist/kv_store.js"]`,
    );
    expect(read('scripts/start.sh')).toContain(`node ${flags} src/kv_store/dist/kv_store.js &`);
    expect(read('bench/etcd-nodes.mjs')).toContain("new URL('../src/kv_store/dist/kv_store.js', import.meta.url)");
    expect(read('bench/run.sh')).toContain('\nKV_MAIN=$ROOT/src/kv_store/dist/kv_store.js\n');
    expect(read('bench/etcd-nodes.mjs')).toContain(`\nconst KV_FLAGS = [${KV_NODE_FLAGS.map((f) => `'${f}'`).join(', ')}];\n`);
    expect(read('bench/node-flags.sh')).toContain(`\nKV_NODE_FLAGS=(${flags})\n`);
    expect(read('bench/run.sh')).toContain('source "$ROOT/bench/node-flags.sh"');
  });

  it('a node on etcd has its own flags (a 16 MiB young generation): make start-cluster, make bench-etcd and the tests pass them', () => {
    const etcdFlags = KV_ETCD_NODE_FLAGS.join(' ');
    expect(KV_ETCD_NODE_FLAGS.filter((f) => !f.startsWith('--max-semi-space-size='))).toEqual(
      KV_NODE_FLAGS.filter((f) => !f.startsWith('--max-semi-space-size=')),
    );
    expect(read('scripts/start-cluster.sh')).toContain(`node ${etcdFlags} src/kv_store/dist/kv_store.js &`);
    expect(read('bench/etcd-nodes.mjs')).toContain(`\nconst ETCD_NODE_FLAGS = [${KV_ETCD_NODE_FLAGS.map((f) => `'${f}'`).join(', ')}];\n`);
    expect(read('bench/etcd-nodes.mjs')).toContain("const flags = env.KV_BACKEND === 'etcd' ? ETCD_NODE_FLAGS : KV_FLAGS;");
    expect(read('docs/etcd-backend.md')).toContain(`kv_store node ${etcdFlags} dist/kv_store.js`);
  });
});
