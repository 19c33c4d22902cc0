import type { ServerResponse } from 'node:http';

const JSON_TYPE = 'application/json; charset=utf-8';

/** Sends a JSON body; `pretty` indents it for people reading curl output. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  pretty = false,
  extra?: Readonly<Record<string, string>>,
): void {
  const text = pretty ? `${JSON.stringify(body, null, 2)}\n` : JSON.stringify(body);
  res.writeHead(status, { ...extra, 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Sends kv_store's JSON error shape: `{"error": {"code", "message"}}`. */
export function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  extra?: Readonly<Record<string, string>>,
): void {
  sendJson(res, status, { error: { code, message } }, false, extra);
}
