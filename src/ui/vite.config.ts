import { defineConfig } from 'vite';

// Relative asset paths, so the files work wherever kv_store mounts them (/ui/).
export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // One small app: no source maps shipped, no inline data URLs to confuse the CSP.
    sourcemap: false,
    assetsInlineLimit: 0,
  },
});
