import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { listen, testApp } from './helpers.js';

/** Sends `request` on a new connection and collects what comes back until the server closes it or `until` matches. */
function exchange(base: string, request: string, until: RegExp): Promise<string> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(request));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (until.test(text)) socket.end();
    });
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('HTTP edges', () => {
  it('answers Expect: 100-continue with an oversized Content-Length by 413 at once, never inviting the body', async () => {
    const t = testApp({ KV_MAX_VALUE_BYTES: '1024' });
    const base = await listen(t.app);
    const reply = await exchange(
      base,
      'POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 10000000\r\n\r\n',
      /\}\}$/,
    );
    expect(reply.startsWith('HTTP/1.1 413 ')).toBe(true);
    expect(reply).not.toContain('100 Continue');
    expect(reply.slice(reply.indexOf('\r\n\r\n') + 4)).toBe(
      JSON.stringify({
        error: {
          code: 'payload_too_large',
          message: `request body is larger than the limit of ${1024 + 6 * 512 + 1024} bytes (KV_MAX_BODY_BYTES)`,
        },
      }),
    );
  });

  it('invites a body that fits with 100 Continue, then stores it', async () => {
    const t = testApp();
    const base = await listen(t.app);
    const body = '{"key":"k","value":1}';
    const { port } = new URL(base);
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.write(
          `POST /v1/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`,
        ),
      );
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        text += chunk;
        if (text === 'HTTP/1.1 100 Continue\r\n\r\n') socket.write(body);
        if (text.endsWith('}')) socket.end();
      });
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(reply.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n')).toBe(true);
    expect(JSON.parse(reply.slice(reply.lastIndexOf('\r\n\r\n') + 4))).toMatchObject({ key: 'k', value: 1, version: 1 });
  });

  it('serves a request whose target is in absolute form (GET http://host/v1/k), as HTTP/1.1 requires', async () => {
    const t = testApp();
    await t.post({ key: 'users/42', value: 'x' });
    const base = await listen(t.app);
    const reply = await exchange(
      base,
      'GET http://127.0.0.1/v1/users%2F42?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
      /\}$/,
    );
    expect(reply.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4))).toMatchObject({ key: 'users/42', value: 'x' });
    const health = await exchange(base, 'GET http://127.0.0.1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', /\}\}$/);
    expect(health.startsWith('HTTP/1.1 404 Not Found\r\n')).toBe(true);
    expect(JSON.parse(health.slice(health.indexOf('\r\n\r\n') + 4))).toEqual({
      error: { code: 'not_found', message: "no resource at '/'; keys live under /v1/" },
    });
  });
});
