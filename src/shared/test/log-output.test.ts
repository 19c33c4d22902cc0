import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogOutput } from '../src/log-output.js';

describe('createLogOutput', () => {
  it('writes each line to the stream as it comes', () => {
    const stream = new PassThrough();
    const output = createLogOutput(stream);
    output.write('{"msg":"a"}\n');
    output.write('{"msg":"b"}\n');
    expect(stream.read()?.toString()).toBe('{"msg":"a"}\n{"msg":"b"}\n');
  });

  it('stops writing, without throwing, once a write failed (EPIPE: the reader is gone)', async () => {
    const written: string[] = [];
    let fail = true;
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (fail) {
          fail = false;
          callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
        } else {
          written.push(chunk.toString());
          callback();
        }
      },
    });
    const output = createLogOutput(stream);
    output.write('first\n');
    await new Promise((resolve) => stream.once('error', resolve));
    output.write('second\n');
    expect(written).toEqual([]);
  });

  it('drops lines while more than the limit is queued for a reader that does not read, then writes again', async () => {
    // A stream that takes nothing until it is released: what is written meanwhile stays queued.
    const taken: string[] = [];
    let stalled = true;
    let release: (() => void) | undefined;
    const stream = new Writable({
      highWaterMark: 16,
      write(chunk: Buffer, _encoding, callback) {
        taken.push(chunk.toString());
        if (stalled) release = callback;
        else callback();
      },
    });
    const output = createLogOutput(stream, 100);
    for (let i = 0; i < 10; i++) output.write(`${String(i).repeat(39)}\n`); // 40 bytes each
    // Queued: 40, 80, 120 bytes; past 100 every line is dropped.
    expect(stream.writableLength).toBe(120);
    stalled = false;
    release?.();
    await new Promise((resolve) => setImmediate(resolve));
    expect(stream.writableLength).toBe(0);
    output.write('after\n');
    expect(taken).toEqual([`${'0'.repeat(39)}\n`, `${'1'.repeat(39)}\n`, `${'2'.repeat(39)}\n`, 'after\n']);
  });
});
