/**
 * A text/event-stream parser, by the WHATWG rules: `data` lines joined with newlines, `event`,
 * `id` (it carries over to later events, as in EventSource), comments ignored, an event dispatched
 * on a blank line, lines ended by CRLF, LF or CR even when a chunk splits them.
 */

/** One dispatched event. */
export interface SseEvent {
  readonly event: string;
  readonly data: string;
  /** The last event id seen so far in the stream (it carries over, as in EventSource). */
  readonly id: string | undefined;
}

/** Incremental text/event-stream parser: feed() it chunks as they arrive. */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private lastId: string | undefined;
  private started = false;
  private afterCr = false;

  /** Adds a chunk of text; returns the events it completed. */
  feed(chunk: string): SseEvent[] {
    if (chunk === '') return [];
    let text = chunk;
    // A CR ended the last chunk: an LF that starts this one is the rest of that CRLF.
    if (this.afterCr && text.startsWith('\n')) text = text.slice(1);
    this.afterCr = false;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.buffer += text;
    const events: SseEvent[] = [];
    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf('\r', start);
      const lf = this.buffer.indexOf('\n', start);
      if (cr === -1 && lf === -1) break;
      const end = cr !== -1 && (lf === -1 || cr < lf) ? cr : lf;
      let next = end + 1;
      if (end === cr) {
        if (this.buffer[next] === '\n') next++;
        else if (next === this.buffer.length) this.afterCr = true;
      }
      const event = this.line(this.buffer.slice(start, end));
      if (event !== undefined) events.push(event);
      start = next;
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') {
      const data = this.data;
      const event = this.event;
      this.data = [];
      this.event = '';
      if (data.length === 0) return undefined;
      return { event: event === '' ? 'message' : event, data: data.join('\n'), id: this.lastId };
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.lastId = value;
    return undefined;
  }
}
