// Waits for a server's first answer, disturbing it as little as possible: one process that
// tries a connection every 5 ms, where a shell loop would start two processes (curl or
// redis-cli, and sleep) a hundred times a second. On the bench machine such a loop made
// kv_store's recovery of a million keys about 30% slower, on the other core: process starts are
// costly on a virtual machine. Used to time restarts (bench/run.sh, bench/restart-ab.sh).
//
//   node bench/first-answer.mjs http PORT [PATH] [PID]   answered once GET PATH (/healthz) is 200
//   node bench/first-answer.mjs redis PORT [PID]         answered once PING is PONG (not LOADING)
//
// Exits 0 once answered; 1 if PID (the server, when given) exits first or nothing answers in 120 s.
import { connect } from 'node:net';

const [protocol, portText, ...rest] = process.argv.slice(2);
const port = Number(portText);
if ((protocol !== 'http' && protocol !== 'redis') || !Number.isInteger(port)) {
  process.stderr.write('usage: first-answer.mjs http|redis PORT [PATH] [PID]\n');
  process.exit(2);
}
const path = protocol === 'http' && rest[0]?.startsWith('/') ? rest.shift() : '/healthz';
const pid = rest[0] === undefined ? undefined : Number(rest[0]);
const request = protocol === 'http' ? `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n` : 'PING\r\n';
const answered = (text) => (protocol === 'http' ? /^HTTP\/1\.1 200 /.test(text) : text.startsWith('+PONG'));
const deadline = Date.now() + 120_000;

function alive() {
  if (pid === undefined) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One try: resolves true when the server gave the answer wanted. */
function attempt() {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    // A server that takes the connection but does not answer yet: try again.
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk) => {
      text += chunk;
      if (text.includes('\r\n')) {
        socket.destroy();
        resolve(answered(text));
      }
    });
    socket.on('error', () => resolve(false));
    socket.on('close', () => resolve(answered(text)));
  });
}

for (;;) {
  if (await attempt()) process.exit(0);
  if (!alive() || Date.now() > deadline) process.exit(1);
  await new Promise((resolve) => setTimeout(resolve, 5));
}
