// Subscribers for bench/watch-redis.sh: N clients SUBSCRIBEd to one Redis channel, and a publisher
// that PUBLISHes to it every few milliseconds, so that redis-server writes every message to every
// subscriber, as kv_store writes every change to every watcher in bench/run.sh's watch phase.
// Runs until SIGTERM (or for the given seconds); writes `<ready-file>` once every subscriber is
// subscribed, and the counts as one JSON line on stdout at the end.
//
//   node bench/redis-subscribers.mjs <port> <subscribers> <seconds> <interval-ms> <ready-file>
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const [portArg, subscribersArg, secondsArg, intervalArg, readyFile] = process.argv.slice(2);
const port = Number(portArg);
const subscribers = Number(subscribersArg);
const MESSAGE = Buffer.from('$7\r\nmessage\r\n');

let subscribed = 0;
let delivered = 0;
const sockets = [];
for (let i = 0; i < subscribers; i++) {
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  let confirmed = false;
  socket.on('connect', () => socket.write('SUBSCRIBE w\r\n'));
  socket.on('data', (data) => {
    if (!confirmed && data.indexOf('subscribe') !== -1) {
      confirmed = true;
      subscribed++;
    }
    for (let at = data.indexOf(MESSAGE); at !== -1; at = data.indexOf(MESSAGE, at + MESSAGE.length)) delivered++;
  });
  socket.on('error', () => socket.destroy());
  sockets.push(socket);
}
const deadline = Date.now() + 30_000;
while (subscribed < subscribers && Date.now() < deadline) await sleep(50);
writeFileSync(readyFile, String(subscribed));

const publisher = connect(port, '127.0.0.1');
publisher.setNoDelay(true);
publisher.on('data', () => undefined);
await new Promise((resolve) => publisher.once('connect', resolve));
let published = 0;
let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
});
const end = Date.now() + Number(secondsArg) * 1000;
while (Date.now() < end && !stopping) {
  publisher.write(`PUBLISH w probe-${published++}\r\n`);
  await sleep(Number(intervalArg));
}
await sleep(1000); // the last messages on their way
process.stdout.write(`${JSON.stringify({ subscribers, subscribed, published, delivered, missing: published * subscribed - delivered })}\n`);
for (const s of [...sockets, publisher]) s.destroy();
process.exit(0);
