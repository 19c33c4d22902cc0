import { isJsonObject, type JsonValue, type KvClient } from '@kv/client';
import type { StepRequest } from './report.js';

/** One event of a watch stream: SSE's `event`, `id` and `data`; for NDJSON, `event` is the line's type and `data` the line. */
export interface WatchEvent {
  readonly event: string;
  readonly id?: string;
  readonly data: JsonValue;
}

/** The head of a watch's answer; `body` is the JSON error body when it is not a stream. */
export interface WatchHead {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly url: string;
  readonly body: JsonValue | undefined;
}

/** A watch stream test_client reads: opened, read in the background into events, closed. */
export class WatchStream {
  readonly events: WatchEvent[] = [];
  private readonly controller = new AbortController();
  private text = '';
  private wake: (() => void) | undefined;
  private ended = false;

  constructor(
    private readonly client: KvClient,
    readonly request: StepRequest,
  ) {}

  /** Sends the request; the body (a stream on 200) is then read in the background. */
  async open(): Promise<WatchHead> {
    const response = await this.client.requestStream(
      { method: this.request.method, path: this.request.path, headers: this.request.headers },
      this.controller.signal,
    );
    const sse = (response.headers['content-type'] ?? '').startsWith('text/event-stream');
    if (response.status !== 200 || response.body === null) {
      const text = response.body === null ? '' : await new Response(response.body).text();
      let body: JsonValue | undefined;
      try {
        body = text === '' ? undefined : (JSON.parse(text) as JsonValue);
      } catch {
        body = undefined;
      }
      this.ended = true;
      return { status: response.status, headers: response.headers, url: response.url, body };
    }
    void this.read(response.body, sse);
    return { status: response.status, headers: response.headers, url: response.url, body: undefined };
  }

  /** The change events so far, once there are `count` of them, the stream has ended, or `deadlineMs` has passed. */
  async changes(count: number, deadlineMs: number): Promise<WatchEvent[]> {
    const deadline = Date.now() + deadlineMs;
    const changes = () => this.events.filter((e) => e.event === 'change');
    while (changes().length < count && !this.ended && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, Math.min(100, Math.max(1, deadline - Date.now())));
      });
    }
    return changes();
  }

  close(): void {
    this.controller.abort();
  }

  private async read(body: ReadableStream<Uint8Array>, sse: boolean): Promise<void> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        this.text += decoder.decode(value, { stream: true });
        this.parse(sse);
        this.wake?.();
      }
    } catch {
      // Closed (by us, or the store): the events so far are what there is.
    } finally {
      this.ended = true;
      this.wake?.();
    }
  }

  private parse(sse: boolean): void {
    const separator = sse ? '\n\n' : '\n';
    let end = this.text.indexOf(separator);
    while (end !== -1) {
      const block = this.text.slice(0, end);
      this.text = this.text.slice(end + separator.length);
      const event = sse ? sseEvent(block) : ndjsonEvent(block);
      if (event !== undefined) this.events.push(event);
      end = this.text.indexOf(separator);
    }
  }
}

function sseEvent(block: string): WatchEvent | undefined {
  let id: string | undefined;
  let event = 'message';
  let data: string | undefined;
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data = data === undefined ? value : `${data}\n${value}`;
  }
  if (data === undefined) return undefined;
  return { event, ...(id === undefined ? {} : { id }), data: parse(data) };
}

function ndjsonEvent(line: string): WatchEvent | undefined {
  if (line.trim() === '') return undefined;
  const data = parse(line);
  const type = isJsonObject(data) ? data.type : undefined;
  return { event: typeof type === 'string' ? type : 'unknown', data };
}

function parse(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}
