// A TCP relay a test can cut, to put a real network fault between a kv_store node and etcd:
//
//   const gate = await openTcpGate('http://127.0.0.1:2379');   // gate.url: http://127.0.0.1:<port>
//   gate.cut();               // every relayed connection is destroyed; new ones are refused (ECONNREFUSED)
//   await gate.restore();     // listens again on the same port

//   await gate.close();
//
// Bytes are relayed as they come, both ways; nothing is parsed or changed.
import { createServer, type Server, type Socket, connect } from 'node:net';

export interface TcpGate {
  /** http://127.0.0.1:<port>, relaying to the target. */
  readonly url: string;
  cut(): void;
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** Opens a relay on a free loopback port to `target` (an http://host:port URL). */
export async function openTcpGate(target: string): Promise<TcpGate> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    sockets.add(client);
    sockets.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const cut = (): void => {
    if (server.listening) server.close();
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  return {
    url: `http://127.0.0.1:${address.port}`,
    cut,
    async restore() {
      if (server.listening) return;
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(address.port, '127.0.0.1', resolve));
    },
    async close() {
      cut();
    },
  };
}
