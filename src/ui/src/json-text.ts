/**
 * JSON as text. kv_store returns a value as the JSON text it was stored as; parsing it into a
 * JavaScript value and printing it again would round big integers (12345678901234567890) and
 * rewrite numbers (1.0 -> 1). So the UI never re-serializes a value: it cuts the value's text
 * out of the entry (rawMember), indents it token by token (prettyJson), and sends what the user
 * typed. Key order for listings is the store's: bytewise on UTF-8, which is code point order.
 */

/** The JSON text of member `name` of the object `text`, or undefined when it has none. `text` must be valid JSON. */
export function rawMember(text: string, name: string): string | undefined {
  let i = skipSpace(text, 0);
  if (text[i] !== '{') return undefined;
  i = skipSpace(text, i + 1);
  while (i < text.length && text[i] !== '}') {
    const keyEnd = endOfString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipSpace(text, keyEnd);
    i = skipSpace(text, i + 1); // past ':'
    const valueEnd = endOfValue(text, i);
    if (key === name) return text.slice(i, valueEnd);
    i = skipSpace(text, valueEnd);
    if (text[i] === ',') i = skipSpace(text, i + 1);
  }
  return undefined;
}

/** `raw` indented by two spaces per level; numbers, strings and escapes are kept as written. */
export function prettyJson(raw: string): string {
  let out = '';
  let depth = 0;
  let i = 0;
  const newline = (): string => `\n${'  '.repeat(depth)}`;
  while (i < raw.length) {
    const c = raw[i] as string;
    if (c === '"') {
      const end = endOfString(raw, i);
      out += raw.slice(i, end);
      i = end;
      continue;
    }
    i++;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') continue;
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      const next = skipSpace(raw, i);
      if (raw[next] === close) {
        out += c + close;
        i = next + 1;
      } else {
        depth++;
        out += c + newline();
      }
    } else if (c === '}' || c === ']') {
      depth--;
      out += newline() + c;
    } else if (c === ',') out += `,${newline()}`;
    else if (c === ':') out += ': ';
    else out += c;
  }
  return out;
}

/** A value's text for the editor: as stored when it has line breaks, else indented. */
export function displayText(valueText: string): string {
  return valueText.includes('\n') ? valueText : prettyJson(valueText);
}

/** Compares keys as the store orders them: by code point, which is the order of their UTF-8 bytes. */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // UTF-16 units order code points except that surrogates (astral) must sort after U+E000–U+FFFF.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  return i;
}

/** Index just past the string that starts (with its quote) at i. */
function endOfString(text: string, i: number): number {
  i++;
  while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
  return i + 1;
}

/** Index just past the JSON value that starts at i. */
function endOfValue(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return endOfString(text, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    while (i < text.length) {
      const d = text[i];
      if (d === '"') {
        i = endOfString(text, i);
        continue;
      }
      if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') depth--;
      i++;
      if (depth === 0) return i;
    }
    return i;
  }
  while (i < text.length && !',}] \t\n\r'.includes(text[i] as string)) i++;
  return i;
}
