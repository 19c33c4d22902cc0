import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Tests run the client from source, so they never see a stale build.
    alias: {
      '@kv/client': fileURLToPath(new URL('./src/client/src/index.ts', import.meta.url)),
      '@kv/shared': fileURLToPath(new URL('./src/shared/src/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['src/*/test/**/*.test.ts', 'bench/**/*.test.ts'],
    environment: 'node',
    // Hang guards, not verdicts: a CPU-bound test must not fail for being slow (the record
    // table's model test took 26 s alone on this 2-core machine while it ran other loads).
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
