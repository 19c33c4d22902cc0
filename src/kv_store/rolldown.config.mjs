// kv_store as one file (dist/kv_store.js), which every launcher runs: tsc's output in dist/
// (about 90 modules) with @kv/shared, pino and prom-client, bundled by rolldown. Loading one
// file instead of the module graph takes about 100 ms off every start: on the bench machine an
// empty store answered its first request 256-273 ms after the process began, against 369-379 ms
// from dist/main.js (docs/durability.md, "Restart"). dist/main.js still runs the same program.
// @grpc/grpc-js and protobufjs stay out: the etcd backend loads them only when KV_BACKEND=etcd
// (createRequire), from node_modules. Paths the program finds from import.meta.url (the web UI's files,
// ../../ui/dist/) are the same from dist/kv_store.js as from dist/config.js.
import { defineConfig } from 'rolldown';

export default defineConfig({
  input: 'dist/main.js',
  platform: 'node',
  output: { file: 'dist/kv_store.js', format: 'esm' },
});
