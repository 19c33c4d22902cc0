// Preloading helpers for bench/run.sh (HTTP servers are loaded with wrk and bench/lua/load.lua,
// which is much faster than a Node client on the one core the load generator gets).
//
//   node bench/preload.mjs resp <prefix> <start> <count> [expire at, epoch ms]
//     writes SET commands in the Redis protocol on stdout, for `redis-cli --pipe` (with PXAT when given)
//   node bench/preload.mjs check <kv|webdis> <base-url> <prefix> <count>
//     reads back the first, the last and 30 random keys and checks each holds the bench value
//
// Keys are <prefix><15 digits> (16 bytes); the value is the same 100 bytes as in bench/lua/common.lua.
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
/** The value's JSON text: a JSON string, 100 bytes in all. */
export const VALUE = `"${(ALPHABET + ALPHABET).slice(0, 98)}"`;

export function key(prefix, i) {
  return `${prefix}${String(i).padStart(15, '0')}`;
}

function bulk(s) {
  return `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
}

async function resp(prefix, start, count, expireAt) {
  const value = bulk(VALUE);
  const expiry = expireAt === undefined ? '' : `${bulk('PXAT')}${bulk(String(expireAt))}`;
  const head = expireAt === undefined ? '*3\r\n$3\r\nSET\r\n' : '*5\r\n$3\r\nSET\r\n';
  const batch = [];
  for (let i = start; i < start + count; i++) {
    batch.push(`${head}${bulk(key(prefix, i))}${value}${expiry}`);
    if (batch.length === 10_000 || i === start + count - 1) {
      if (!process.stdout.write(batch.join(''))) await once(process.stdout, 'drain');
      batch.length = 0;
    }
  }
}

async function check(flavor, base, prefix, count) {
  const indexes = [0, count - 1];
  for (let i = 0; i < 30; i++) indexes.push(Math.floor(Math.random() * count));
  for (const i of indexes) {
    const k = key(prefix, i);
    const url = flavor === 'webdis' ? `${base}/GET/${k}` : `${base}/v1/${k}`;
    const res = await fetch(url);
    const text = await res.text();
    // kv_store answers the entry, webdis {"GET": text}, the reference server the value itself.
    let value = text;
    try {
      const parsed = JSON.parse(text);
      if (flavor === 'webdis') value = parsed.GET;
      else if (parsed !== null && typeof parsed === 'object' && 'value' in parsed) value = JSON.stringify(parsed.value);
    } catch {
      // not JSON: compared as it is
    }
    if (res.status !== 200 || value !== VALUE) {
      throw new Error(`preload check: GET ${url} gave ${res.status} ${text.slice(0, 200)}; expected 200 with the bench value`);
    }
  }
  process.stderr.write(`preload check: ${indexes.length} keys of ${prefix}* read back from ${base}\n`);
}

// Run as a script; bench/request-client.mjs imports VALUE and key, which runs none of this.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === 'resp') {
    await resp(args[0], Number(args[1]), Number(args[2]), args[3] === undefined ? undefined : Number(args[3]));
  } else if (mode === 'check') {
    await check(args[0], args[1], args[2], Number(args[3]));
  } else {
    process.stderr.write('usage: preload.mjs resp <prefix> <start> <count> | check <kv|webdis> <base-url> <prefix> <count>\n');
    process.exit(2);
  }
}
