const DAY_MS = 86_400_000;
const PAD2 = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const PAD3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

let cachedDay = Number.NaN;
let cachedDate = '';
/** The last time formatted, and its text: an entry's createdAt is often its updatedAt, and a page's neighbours were often written in the same millisecond. */
let lastTime = Number.NaN;
let lastText = '';

/**
 * `new Date(ms).toISOString()`, several times faster: the time of day and the date by arithmetic
 * (the date of the last day seen is cached). Every entry read formats three times, so this is on
 * the hot path. Valid for times from 1970 to 9999 (expiry is at most ~31 years ahead).
 */
export function isoTime(time: number): string {
  if (time === lastTime) return lastText;
  // An expiry is now + ttl * 1000, which a TTL such as 0.0015 s leaves between two
  // milliseconds; Date drops the fraction, and so must this (it indexed PAD3 with it: '.undefinedZ').
  const ms = Math.floor(time);
  const day = Math.floor(ms / DAY_MS);
  if (day !== cachedDay) {
    cachedDay = day;
    cachedDate = civilDate(day);
  }
  let rest = ms - day * DAY_MS;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  lastTime = time;
  lastText = `${cachedDate}${PAD2[hours]}:${PAD2[minutes]}:${PAD2[seconds]}.${PAD3[rest - seconds * 1000]}Z`;
  return lastText;
}

/** The first time isoTime is not valid for (year 10000): a time from here on has no 24-character text. */
export const ISO_TIME_END = 253_402_300_800_000;
/** The text of the last time writeIsoTime wrote, and that time and its day (the date part is rewritten only for another day). */
const TIME_BYTES = Buffer.from(new ArrayBuffer(24));
TIME_BYTES.write('0000-00-00T00:00:00.000Z', 'latin1');
/** The same 24 bytes, read as six 32-bit words (little-endian, as they are written). */
const TIME_VIEW = new DataView(TIME_BYTES.buffer, 0, 24);
let bytesTime = Number.NaN;
let bytesDay = Number.NaN;
const ZERO = 0x30;

/**
 * isoTime's text written as ASCII into `target` at `at` (24 bytes), with no string made: a
 * listing's page writes three times an item. Only for times in [0, ISO_TIME_END). Six 32-bit
 * stores: a call of TypedArray#set for so few bytes costs several times more.
 */
export function writeIsoTime(time: number, target: DataView, at: number): void {
  const ms = Math.floor(time);
  if (ms !== bytesTime) {
    bytesTime = ms;
    formatTime(ms);
  }
  for (let i = 0; i < 24; i += 4) target.setUint32(at + i, TIME_VIEW.getUint32(i, true), true);
}

/** Writes the text of `ms` into TIME_BYTES. The time of day is an int32, so `/ 10 | 0` and the like are multiplications. */
function formatTime(ms: number): void {
  const day = Math.floor(ms / DAY_MS);
  if (day !== bytesDay) {
    bytesDay = day;
    // Copied as bytes once a day: a string of several parts, read a character at a time, is walked each time.
    TIME_BYTES.write(civilDate(day), 'latin1');
  }
  let rest = (ms - day * DAY_MS) | 0;
  const hours = (rest / 3_600_000) | 0;
  rest -= hours * 3_600_000;
  const minutes = (rest / 60_000) | 0;
  rest -= minutes * 60_000;
  const seconds = (rest / 1000) | 0;
  rest -= seconds * 1000;
  twoDigits(11, hours);
  twoDigits(14, minutes);
  twoDigits(17, seconds);
  const hundreds = (rest / 100) | 0;
  TIME_BYTES[20] = ZERO + hundreds;
  twoDigits(21, rest - hundreds * 100);
}

function twoDigits(at: number, n: number): void {
  const tens = (n / 10) | 0;
  TIME_BYTES[at] = ZERO + tens;
  TIME_BYTES[at + 1] = ZERO + (n - tens * 10);
}

/** `YYYY-MM-DDT` of a day counted from 1970-01-01 (H. Hinnant's civil_from_days). */
function civilDate(day: number): string {
  const z = day + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return `${year}-${PAD2[m]}-${PAD2[d]}T`;
}
