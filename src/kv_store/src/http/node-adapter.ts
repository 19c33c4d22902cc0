import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Answer, AnswerObserver, ApiDoor, RequestHead } from '../api/door.js';
import { answerFields } from './response-writer.js';

/*
 * The API on node:http's request and response objects, for embedding kv_store in another
 * node:http server. Production uses kv_store's own server (wire-server.ts); a suite runs the
 * contract over this adapter too (test/transports.test.ts).
 */

/** How long a connection refused for its body's size may go on sending before it is cut off. */
const LINGER_MS = 2000;

/** The door as a node:http request listener. */
export function nodeHandler(door: ApiDoor, onAnswer?: AnswerObserver): RequestListener {
  return (req, res) => {
    const startedAt = onAnswer === undefined ? 0 : performance.now();
    const head: RequestHead = { method: req.method ?? '', target: req.url ?? '/', headers: req.headers, requestId: '', route: '' };
    const send = (answer: Answer): void => {
      if (res.headersSent || res.destroyed) {
        answer.stream?.stop();
        return;
      }
      writeAnswer(req, res, answer);
      onAnswer?.(head, answer.status, startedAt);
    };
    const settle = (result: Answer | Promise<Answer>): void => {
      if (result instanceof Promise) result.then(send, () => res.destroy());
      else send(result);
    };
    const accepted = door.accept(head);
    if (typeof accepted !== 'function') {
      settle(accepted);
      return;
    }
    readBody(req, door.maxBodyBytes).then(
      (body) => settle(accepted(body)),
      (err: unknown) => {
        if (err === TOO_LARGE) send(door.payloadTooLarge(head));
        else res.destroy(); // the client went away mid-body
      },
    );
  };
}

function writeAnswer(req: IncomingMessage, res: ServerResponse, answer: Answer): void {
  const fields = answerFields(answer);
  const headers: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) {
    const name = (fields[i] as string).toLowerCase();
    // node:http frames a streamed body itself.
    if (name !== 'transfer-encoding') headers[name] = fields[i + 1] as string;
  }
  if (answer.close) headers.connection = 'close';
  res.writeHead(answer.status, headers);
  const stream = answer.stream;
  if (req.method === 'HEAD' || stream === undefined) {
    stream?.stop();
    res.end(req.method === 'HEAD' ? undefined : answer.body);
    return;
  }
  let ended = false;
  res.on('close', () => {
    if (!ended) stream.stop();
  });
  stream.start({
    write: (text) => !res.destroyed && res.write(text),
    end: () => {
      ended = true;
      res.end();
    },
    get pending() {
      return res.writableLength;
    },
    onDrain: (listener) => {
      if (!res.destroyed) res.once('drain', listener);
    },
  });
}

/** The rejection of readBody for a body past the limit. */
const TOO_LARGE = Symbol('too large');

/**
 * Reads the request body, refusing as soon as it is known to pass `limit`: at once from
 * Content-Length, or while streaming a chunked body. Never buffers more than `limit` bytes. A
 * refused body may still be arriving, and closing a socket with unread data makes the kernel
 * reset the connection, which can destroy the answer before the client reads it: so, as nginx's
 * lingering close does, our side is half-closed and what still arrives is read and thrown away
 * for at most LINGER_MS.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const refuse = (): typeof TOO_LARGE => {
    const socket = req.socket;
    socket.destroySoon = () => {
      socket.end();
      socket.resume();
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
    };
    return TOO_LARGE;
  };
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(refuse());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer): void => {
      length += chunk.length;
      if (length > limit) {
        cleanup();
        req.pause();
        reject(refuse());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
