import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { type SseEvent, SseParser } from '../src/sse-parser.js';

const STREAM = [
  ': keepalive',
  '',
  'id: 7',
  'event: change',
  'data: {"revision":7,"changes":[]}',
  '',
  'event: progress',
  'id: 9',
  'data: {}',
  '',
  'data: line one',
  'data:line two',
  '',
  'event: compacted',
  'data: {"oldest": 3}',
  '',
  '',
].join('\n');

const EVENTS: SseEvent[] = [
  { event: 'change', data: '{"revision":7,"changes":[]}', id: '7' },
  { event: 'progress', data: '{}', id: '9' },
  { event: 'message', data: 'line one\nline two', id: '9' },
  { event: 'compacted', data: '{"oldest": 3}', id: '9' },
];

function parseInChunks(text: string, cuts: number[]): SseEvent[] {
  const parser = new SseParser();
  const events: SseEvent[] = [];
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    events.push(...parser.feed(text.slice(from, cut)));
    from = cut;
  }
  events.push(...parser.feed(text.slice(from)));
  return events;
}

describe('SseParser', () => {
  test('reads events, ids that carry over, multi-line data, and skips comments', () => {
    expect(parseInChunks(STREAM, [])).toEqual(EVENTS);
  });

  test('gives the same events however the stream is split into chunks, with LF, CRLF or CR line ends', () => {
    fc.assert(
      fc.property(fc.constantFrom('\n', '\r\n', '\r'), fc.array(fc.nat(STREAM.length * 2), { maxLength: 12 }), (end, cuts) => {
        const text = STREAM.replaceAll('\n', end);
        expect(
          parseInChunks(
            text,
            cuts.map((cut) => cut % (text.length + 1)),
          ),
        ).toEqual(EVENTS);
      }),
    );
  });

  test('an event without data is not dispatched, but its id is kept', () => {
    expect(parseInChunks('id: 4\nevent: change\n\ndata: x\n\n', [])).toEqual([{ event: 'message', data: 'x', id: '4' }]);
  });

  test('waits for the blank line: a half-sent event is not dispatched', () => {
    const parser = new SseParser();
    expect(parser.feed('event: change\ndata: {"revision":1}\n')).toEqual([]);
    expect(parser.feed('\n')).toEqual([{ event: 'change', data: '{"revision":1}', id: undefined }]);
  });

  test('a CRLF split across chunks, with an empty chunk between, is one line end', () => {
    expect(parseInChunks('data: a\r\n\r\n', [7, 8, 8, 9])).toEqual([{ event: 'message', data: 'a', id: undefined }]);
    expect(parseInChunks('data: a\r\ndata: b\r\n\r\n', [8, 8])).toEqual([{ event: 'message', data: 'a\nb', id: undefined }]);
  });

  test('a byte order mark before the first line is ignored', () => {
    expect(parseInChunks('\ufeffdata: a\n\n', [])).toEqual([{ event: 'message', data: 'a', id: undefined }]);
  });
});
