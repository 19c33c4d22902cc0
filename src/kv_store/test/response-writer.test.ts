import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunk, chunkBytes } from '../src/http/response-writer.js';

describe('chunked body pieces', () => {
  it('chunkBytes frames any text as chunk() does: hex byte length, CRLF, the UTF-8, CRLF', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), (text) => {
        const bytes = chunkBytes(text);
        const utf8 = Buffer.from(text, 'utf8');
        expect(bytes.toString('utf8')).toBe(chunk(text));
        expect(bytes.equals(Buffer.concat([Buffer.from(`${utf8.length.toString(16)}\r\n`), utf8, Buffer.from('\r\n')]))).toBe(true);
      }),
    );
  });

  it('the same text twice in a row is the same Buffer (a watch flush encodes a message once for every watcher)', () => {
    const message = 'id: 7\nevent: change\ndata: {"revision":7,"changes":[{"type":"put","key":"é","value":1}]}\n\n';
    const first = chunkBytes(message);
    expect(chunkBytes(message)).toBe(first);
    const other = chunkBytes(`${message} `);
    expect(other).not.toBe(first);
    expect(other.toString('utf8')).toBe(chunk(`${message} `));
    expect(chunkBytes(message).toString('utf8')).toBe(chunk(message));
  });
});
