import type { IncomingMessage } from 'node:http';
import { HttpError } from '../errors.js';

const JSON_MEDIA_TYPE = /^application\/json\s*(;|$)/i;

/** Throws 415 unless the request says its body is JSON (a charset parameter is fine). */
export function requireJson(type: string | undefined): void {
  if (type === undefined || !JSON_MEDIA_TYPE.test(type)) {
    throw new HttpError(
      'unsupported_media_type',
      type === undefined
        ? 'Content-Type must be application/json; the request has none'
        : `Content-Type must be application/json, got '${type}'`,
    );
  }
}

/** How long a connection refused for its body's size may go on sending before it is cut off. */
const LINGER_MS = 2000;

/**
 * A body past the limit; the connection is closed after the answer. The client may still be
 * sending it, and closing a socket with unread data makes the kernel reset the connection, which
 * can destroy the answer before the client reads it. So, as nginx's lingering close does, our
 * side is half-closed and what still arrives is read and thrown away (never kept) for at most
 * LINGER_MS before the socket is closed.
 */
function tooLarge(req: IncomingMessage, limit: number): HttpError {
  const socket = req.socket;
  socket.destroySoon = () => {
    socket.end();
    socket.resume();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  };
  return payloadTooLarge(limit);
}

/** 413 for a body past `limit`; the connection is closed after the answer. */
export function payloadTooLarge(limit: number): HttpError {
  return new HttpError('payload_too_large', `request body is larger than the limit of ${limit} bytes`, { connection: 'close' });
}

/**
 * Reads the request body, refusing with 413 as soon as it is known to pass `limit`: at once from
 * Content-Length, or while streaming a chunked body. Never buffers more than `limit` bytes.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(req, limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer): void => {
      length += chunk.length;
      if (length > limit) {
        cleanup();
        req.pause();
        reject(tooLarge(req, limit));
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
