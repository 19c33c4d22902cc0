/** The raw text span of one member of a JSON object. */
export interface Member {
  readonly name: string;
  /** Offset of the member's value in the text. */
  readonly start: number;
  /** Offset just past the member's value. */
  readonly end: number;
}

/**
 * Lists the members of the top-level object in `text`, with where each value's text starts and
 * ends, so a value can be stored exactly as it arrived. `text` must already be known to be
 * valid JSON whose top level is an object (JSON.parse has accepted it). Iterative, so
 * deeply nested values cannot overflow the stack.
 */
export function topLevelMembers(text: string, from = 0): Member[] {
  const members: Member[] = [];
  let i = skipSpace(text, from) + 1; // past '{'
  for (;;) {
    i = skipSpace(text, i);
    const c = text.charCodeAt(i);
    if (c === 0x7d /* } */) return members;
    if (c === 0x2c /* , */) {
      i++;
      continue;
    }
    const nameEnd = skipString(text, i);
    const rawName = text.slice(i, nameEnd);
    const name = rawName.indexOf('\\') === -1 ? rawName.slice(1, -1) : (JSON.parse(rawName) as string);
    i = skipSpace(text, nameEnd) + 1; // past ':'
    const start = skipSpace(text, i);
    const end = skipValue(text, start);
    members.push({ name, start, end });
    i = end;
  }
}

/** The raw text span of one element of a JSON array. */
export interface Element {
  readonly start: number;
  readonly end: number;
}

/**
 * The elements of the array that starts at `from` in `text` (valid JSON, as JSON.parse has
 * accepted it), with where each element's text starts and ends.
 */
export function arrayElements(text: string, from: number): Element[] {
  const elements: Element[] = [];
  let i = skipSpace(text, from) + 1; // past '['
  for (;;) {
    i = skipSpace(text, i);
    const c = text.charCodeAt(i);
    if (c === 0x5d /* ] */) return elements;
    if (c === 0x2c /* , */) {
      i++;
      continue;
    }
    const end = skipValue(text, i);
    elements.push({ start: i, end });
    i = end;
  }
}

function skipSpace(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/** Offset just past the string starting at `i` (which is a quote). */
function skipString(text: string, i: number): number {
  let from = i + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

/** Offset just past the value starting at `i`. */
function skipValue(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === 0x22) return skipString(text, i);
  if (c !== 0x7b && c !== 0x5b) {
    // A number, true, false or null: runs to the next delimiter.
    let j = i + 1;
    for (;;) {
      const d = text.charCodeAt(j);
      if (d === 0x2c || d === 0x7d || d === 0x5d || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09 || Number.isNaN(d)) return j;
      j++;
    }
  }
  // An object or array: to its matching bracket, strings skipped whole. A loop over the
  // characters, not a regular expression's matches: no match objects, and values are short.
  let depth = 0;
  let j = i;
  for (;;) {
    const d = text.charCodeAt(j);
    if (d === 0x22 /* " */) {
      j = skipString(text, j);
      continue;
    }
    if (d === 0x7b /* { */ || d === 0x5b /* [ */) depth++;
    else if ((d === 0x7d /* } */ || d === 0x5d) /* ] */ && --depth === 0) return j + 1;
    else if (Number.isNaN(d)) return text.length; // unreachable for valid JSON
    j++;
  }
}
