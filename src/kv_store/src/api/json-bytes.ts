import { jsonString } from './answers.js';
import { ISO_TIME_END, isoTime, writeIsoTime } from './iso-time.js';

/*
 * A JSON body written straight into bytes, for an answer of many items (a listing's page). Built
 * by `+=`, the body was a tree of small strings that the answer's Content-Length and then the
 * socket write each flattened, the second time with the head in front, before encoding it as
 * UTF-8; and each item left its strings behind for the collector. Here the names and punctuation
 * are bytes made once and copied in, numbers and times are written as digits, keys and values as
 * the UTF-8 that the text encoded to.
 *
 * Bodies are written one after another into a chunk of memory, and each answer takes a view of
 * its own part: no copy, and a new chunk (one ArrayBuffer outside the heap) only every few pages.
 * A view keeps its whole chunk alive until the socket has taken it, so chunks are small.
 *
 * The fragments and times go in four bytes at a time, as 32-bit stores through a DataView (a
 * call of TypedArray#set for a fragment's few bytes cost about three times as much, and a byte
 * loop more instructions); a store may write up to three bytes past the fragment, which the next
 * write covers or the body's end leaves out. A key goes in a character at a time, and a value's
 * text through Buffer#write, which encodes it as a socket write would.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const ZERO = 0x30;
/** Bodies are written one after another in chunks of this size (a larger body gets a chunk of its own). */
const CHUNK_BYTES = 64 * 1024;

/** ASCII text made once, for `put`: its length, and its bytes as 32-bit words (little-endian, the last one padded with zeros). */
export interface Fragment {
  readonly length: number;
  readonly words: Uint32Array;
}

/** ASCII text as a Fragment: copied from words, it is written faster than read from a string. */
export function fragment(text: string): Fragment {
  const padded = Buffer.alloc(Math.ceil(text.length / 4) * 4);
  padded.write(text, 'latin1');
  const words = new Uint32Array(padded.length / 4);
  for (let i = 0; i < words.length; i++) words[i] = padded.readUInt32LE(4 * i);
  return { length: text.length, words };
}

/** Bytes a 32-bit store may write past what it is writing (a fragment's padding). */
const SPILL = 3;

/** Writes JSON text as UTF-8 bytes, byte for byte what the same text written as a string encodes to. */
export class JsonBytes {
  /** The chunk being written in, where the current body starts, and how far it is written. */
  private bytes = Buffer.allocUnsafe(CHUNK_BYTES);
  /** The same chunk, for 32-bit stores. */
  private view = viewOf(this.bytes);
  private start = 0;
  private at = 0;

  /** Text that is ASCII and needs no escaping: a cursor, or the text of an unusual number or time. */
  ascii(text: string): void {
    const n = text.length;
    this.room(n);
    const bytes = this.bytes;
    let at = this.at;
    for (let i = 0; i < n; i++) bytes[at++] = text.charCodeAt(i);
    this.at = at;
  }

  /** Bytes made once (by `fragment`): the names and punctuation around the values. */
  put(fragment: Fragment): void {
    const n = fragment.length;
    this.room(n + SPILL);
    const view = this.view;
    const words = fragment.words;
    const at = this.at;
    for (let i = 0; i < words.length; i++) view.setUint32(at + 4 * i, words[i] as number, true);
    this.at = at + n;
  }

  /**
   * A number, as `${n}` writes it: digits for a safe integer (every count, version and size),
   * else its text. Below 2^31 the digits come from int32 arithmetic, where `/ 10 | 0` is a multiplication.
   */
  number(n: number): void {
    if (!(n >= 0 && n <= Number.MAX_SAFE_INTEGER && Number.isInteger(n))) {
      this.ascii(String(n));
      return;
    }
    let digits = 1;
    for (let p = 10; p <= n; p *= 10) digits++;
    this.room(digits);
    const bytes = this.bytes;
    let at = this.at + digits;
    this.at = at;
    let rest = n;
    while (rest > 0x7fffffff) {
      const tenth = Math.floor(rest / 10);
      bytes[--at] = ZERO + (rest - tenth * 10);
      rest = tenth;
    }
    let small = rest | 0;
    do {
      const tenth = (small / 10) | 0;
      bytes[--at] = ZERO + (small - tenth * 10);
      small = tenth;
    } while (small > 0);
  }

  /** A time as isoTime writes it, without quotes (the fragments around it carry them). */
  bareTime(time: number): void {
    if (!(time >= 0 && time < ISO_TIME_END)) {
      this.ascii(isoTime(time));
      return;
    }
    this.room(24);
    const at = this.at;
    writeIsoTime(time, this.view, at);
    this.at = at + 24;
  }

  /** Text as UTF-8, as it is (a value's JSON text). */
  text(text: string): void {
    this.room(text.length * 3);
    this.at += this.bytes.write(text, this.at, 'utf8');
  }

  /** A key (or rolled-up prefix) as `jsonString` writes it: in quotes, as `bareKey` writes it between them. */
  key(key: string): void {
    this.quote();
    this.bareKey(key);
    this.quote();
  }

  private quote(): void {
    this.room(1);
    this.bytes[this.at++] = QUOTE;
  }

  /**
   * A key as `jsonString` writes it, without its quotes (the fragments around it carry them): as it
   * is, unless it has a quote or backslash. An ASCII key is copied a character at a time (cheaper
   * than Buffer#write for a key's few bytes); any other goes the way of a value.
   */
  bareKey(key: string): void {
    const n = key.length;
    this.room(n);
    const bytes = this.bytes;
    let at = this.at;
    for (let i = 0; i < n; i++) {
      const c = key.charCodeAt(i);
      if (c >= 0x80 || c === QUOTE || c === BACKSLASH) {
        const quoted = jsonString(key);
        this.text(quoted.slice(1, quoted.length - 1));
        return;
      }
      bytes[at++] = c;
    }
    this.at = at;
  }

  /**
   * A key held as UTF-8, `bytes[start, start + length)`, as `bareKey` writes it: its bytes copied
   * as they are, unless it has a quote or backslash (keys hold no control characters, so nothing
   * else needs escaping).
   */
  bareKeyUtf8(bytes: Buffer, start: number, length: number): void {
    this.room(length);
    const out = this.bytes;
    let at = this.at;
    const end = start + length;
    for (let i = start; i < end; i++) {
      const c = bytes[i] as number;
      if (c === QUOTE || c === BACKSLASH) {
        this.bareKey(bytes.toString('utf8', start, end));
        return;
      }
      out[at++] = c;
    }
    this.at = at;
  }

  /** JSON text held as UTF-8, `bytes[start, start + length)`, copied as it is (a value, as `text` writes its string). */
  utf8(bytes: Buffer, start: number, length: number): void {
    this.room(length);
    if (length > 32) bytes.copy(this.bytes, this.at, start, start + length);
    else {
      const out = this.bytes;
      const at = this.at;
      for (let i = 0; i < length; i++) out[at + i] = bytes[start + i] as number;
    }
    this.at += length;
  }

  /**
   * What was written since the last take is dropped: a page whose listing failed part way
   * leaves nothing for the next body.
   */
  discard(): void {
    this.at = this.start;
  }

  /**
   * The body written since the last take, as a Buffer of its own: a view of the chunk it was
   * written in, which the next body is written after, never over.
   */
  take(): Buffer {
    const body = this.bytes.subarray(this.start, this.at);
    this.start = this.at;
    return body;
  }

  /** Makes room for `n` more bytes: past the chunk's end, the body so far moves to a new chunk. */
  private room(n: number): void {
    const need = this.at + n;
    if (need <= this.bytes.length) return;
    const written = this.at - this.start;
    const chunk = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, 2 * (written + n)));
    this.bytes.copy(chunk, 0, this.start, this.at);
    this.bytes = chunk;
    this.view = viewOf(chunk);
    this.start = 0;
    this.at = written;
  }
}

/** A DataView of exactly the bytes of `buffer` (a Buffer may be a slice of a larger ArrayBuffer). */
function viewOf(buffer: Buffer): DataView {
  return new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
