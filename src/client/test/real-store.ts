import type { AddressInfo } from 'node:net';
import { type App, buildApp } from '../../kv_store/src/app.js';
import { loadConfig } from '../../kv_store/src/config.js';
import type { KvStore } from '../../kv_store/src/store/store.js';

/** A real kv_store, in-process, listening on a free port of 127.0.0.1 (the client's and test_client's tests use it). */
export interface RealStore {
  readonly url: string;
  readonly store: KvStore;
  /** The whole app (readiness, drain...). */
  readonly app: App;
  close(): Promise<void>;
}

/** Starts kv_store on port 0, configured from `env` (KV_AUTH_TOKEN, ...). */
export async function startRealStore(env: Record<string, string> = {}): Promise<RealStore> {
  const app = buildApp({ config: loadConfig({ KV_LOG_LEVEL: 'silent', ...env }) });
  await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
  const { port } = app.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    store: app.store,
    app,
    close: () =>
      new Promise((resolve) => {
        void app.close();
        app.server.close(() => resolve());
        app.server.closeAllConnections();
      }),
  };
}
