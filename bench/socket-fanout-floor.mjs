// The floor under a watch fan-out: a bare node:net server that writes one SSE-sized chunk (as
// kv_store frames it) to each of 1,000 loopback sockets every 20 ms, as kv_store's watch hub
// does for a probe write in bench/watch-fanout.sh; prints its CPU time per socket write.
//
//   node bench/socket-fanout-floor.mjs            (runs the server on CPU 1 and the readers on CPU 0)
//   mode: string (each socket encodes its own copy) or buffer (one Buffer, written to every socket)
import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';

const [role = 'main', mode = 'buffer', port = '19999'] = process.argv.slice(2);
const SOCKETS = 1000;
const SECONDS = 8;
const TEXT =
  'id: 123456\nevent: change\ndata: {"revision":123456,"changes":[{"type":"put","key":"w/probe","value":"probe-00012345","version":1234,"revision":123456,"expiresAt":null}]}\n\n';
const framed = (t) => `${Buffer.byteLength(t).toString(16)}\r\n${t}\r\n`;

if (role === 'main') {
  for (const m of ['string', 'buffer', 'string', 'buffer']) {
    const server = spawn('taskset', ['-c', '1', process.execPath, import.meta.filename, 'server', m, port], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    execFileSync('taskset', ['-c', '0', process.execPath, import.meta.filename, 'client', m, port], { stdio: 'ignore' });
    await new Promise((resolve) => server.once('exit', resolve));
  }
} else if (role === 'client') {
  for (let i = 0; i < SOCKETS; i++) net.connect(Number(port), '127.0.0.1').on('data', () => {});
  setTimeout(() => process.exit(0), (SECONDS + 3) * 1000);
} else {
  const sockets = [];
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    sockets.push(s);
    if (sockets.length === SOCKETS) go();
  });
  server.listen(Number(port), '127.0.0.1');
  function go() {
    const t0 = process.cpuUsage();
    const start = Date.now();
    let rounds = 0;
    const timer = setInterval(() => {
      rounds++;
      if (mode === 'string') for (const s of sockets) s.write(framed(TEXT));
      else {
        const bytes = Buffer.from(framed(TEXT));
        for (const s of sockets) s.write(bytes);
      }
      if (Date.now() - start < SECONDS * 1000) return;
      clearInterval(timer);
      const used = process.cpuUsage(t0);
      const n = rounds * SOCKETS;
      console.log(
        `${mode}: ${n} writes; CPU per write: user ${(used.user / n).toFixed(2)} us, system ${(used.system / n).toFixed(2)} us, total ${((used.user + used.system) / n).toFixed(2)} us`,
      );
      process.exit(0);
    }, 20);
  }
}
