import type { Answer, ApiDoor, RequestHead, StreamSink } from '../../src/api/door.js';
import { answerFields } from '../../src/http/response-writer.js';

/** A request as a test writes it (the shape light-my-request takes). */
export interface ApiCall {
  readonly method: string;
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly payload?: string | Buffer;
}

/** An answer as a test reads it: status, lower-case headers, body text. */
export interface ApiResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: string;
  /** The same as body (light-my-request's name). */
  readonly payload: string;
  /** The answer's stream, when it is one (watch): not started yet. */
  readonly stream: Answer['stream'];
  // biome-ignore lint/suspicious/noExplicitAny: tests read JSON bodies freely, as with light-my-request json()
  json(): any;
}

/**
 * Calls the API through its door, as a transport would but without one: the head, then the
 * body within maxBodyBytes, then the answer with the header fields every transport writes
 * (response-writer.ts). Route tests use this; test/transports.test.ts runs the same calls over
 * real sockets.
 */
export async function callApi(door: ApiDoor, call: ApiCall): Promise<ApiResponse> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(call.headers ?? {})) headers[name.toLowerCase()] = value;
  const payload = call.payload === undefined ? Buffer.alloc(0) : Buffer.from(call.payload);
  if (payload.length > 0 && headers['content-length'] === undefined) headers['content-length'] = String(payload.length);
  const head: RequestHead = { method: call.method, target: call.url, headers, requestId: '', route: '' };
  const accepted = door.accept(head);
  let answer: Answer;
  if (typeof accepted === 'function') {
    answer = payload.length > door.maxBodyBytes ? door.payloadTooLarge(head) : await accepted(payload);
  } else answer = await accepted;
  return toResponse(call.method, answer);
}

function toResponse(method: string, answer: Answer): ApiResponse {
  const fields = answerFields(answer);
  const headers: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) headers[(fields[i] as string).toLowerCase()] = fields[i + 1] as string;
  if (answer.close) headers.connection = 'close';
  const body = method === 'HEAD' ? '' : typeof answer.body === 'string' ? answer.body : answer.body.toString('utf8');
  return {
    statusCode: answer.status,
    headers,
    body,
    payload: body,
    stream: answer.stream,
    json: () => JSON.parse(body),
  };
}

/** Runs a streamed answer into a string sink until `until` holds of what was written, or the stream ends. */
export function readStream(stream: NonNullable<Answer['stream']>): {
  readonly text: () => string;
  readonly ended: () => boolean;
  stop(): void;
} {
  let text = '';
  let ended = false;
  const sink: StreamSink = {
    write(chunk) {
      text += chunk;
      return true;
    },
    end() {
      ended = true;
    },
    pending: 0,
    onDrain() {
      // Never full: every write returned true.
    },
  };
  stream.start(sink);
  return { text: () => text, ended: () => ended, stop: () => stream.stop() };
}
