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
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
