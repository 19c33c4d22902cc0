import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { compareKeys, displayText, prettyJson, rawMember } from '../src/json-text.js';

/** JSON text of `value` with arbitrary (valid) whitespace between tokens. */
const spaced = fc.tuple(fc.jsonValue(), fc.constantFrom('', ' ', '\n  ', '\t', '\r\n')).map(([value, space]) => {
  const text = JSON.stringify(value, null, space === '' ? undefined : space);
  // What the text means (JSON has no -0: it reads back as 0).
  return { value: JSON.parse(text) as unknown, text };
});

describe('rawMember: a member’s JSON text cut out of an object', () => {
  test('gives back the value of any entry, whatever its JSON', () => {
    fc.assert(
      fc.property(spaced, fc.string(), ({ value, text }, key) => {
        const entry = `{"key":${JSON.stringify(key)},"value":${text},"version":3,"expiresAt":null}`;
        expect(JSON.parse(rawMember(entry, 'value') ?? 'undefined')).toEqual(value);
        expect(rawMember(entry, 'version')).toBe('3');
        expect(rawMember(entry, 'expiresAt')).toBe('null');
      }),
    );
  });

  test('keeps the text exactly: big integers and number spellings are not re-serialized', () => {
    const entry = '{ "key" : "k", "value" : {"id": 12345678901234567890, "ratio": 1.50, "s": "a\\"}"} , "version":1}';
    expect(rawMember(entry, 'value')).toBe('{"id": 12345678901234567890, "ratio": 1.50, "s": "a\\"}"}');
  });

  test('is undefined for a member the object does not have, or for a text that is not an object', () => {
    expect(rawMember('{"key":"k"}', 'value')).toBeUndefined();
    expect(rawMember('[1,2]', 'value')).toBeUndefined();
  });
});

describe('prettyJson: indentation token by token', () => {
  test('the same JSON value comes out, indented', () => {
    fc.assert(
      fc.property(spaced, ({ value, text }) => {
        expect(JSON.parse(prettyJson(text))).toEqual(value);
      }),
    );
  });

  test('numbers and strings keep their spelling', () => {
    expect(prettyJson('{"n":12345678901234567890,"x":1.50,"e":1E+2,"s":"{[,:]}","u":"\\u00e9"}')).toBe(
      '{\n  "n": 12345678901234567890,\n  "x": 1.50,\n  "e": 1E+2,\n  "s": "{[,:]}",\n  "u": "\\u00e9"\n}',
    );
  });

  test('empty objects and arrays stay on one line', () => {
    expect(prettyJson('{"a":{},"b":[ ]}')).toBe('{\n  "a": {},\n  "b": []\n}');
  });

  test('displayText leaves a value that already has line breaks as it was stored', () => {
    expect(displayText('{\n    "a": 1\n}')).toBe('{\n    "a": 1\n}');
    expect(displayText('{"a":1}')).toBe('{\n  "a": 1\n}');
  });
});

describe('compareKeys: the store’s order', () => {
  test('orders as the UTF-8 bytes do, astral characters included', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        expect(Math.sign(compareKeys(a, b))).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
      }),
    );
  });

  test('puts U+FFFF before an astral character, which UTF-16 order would not', () => {
    expect(compareKeys('\uffff', '😀')).toBeLessThan(0);
    expect('\uffff' < '😀').toBe(false);
  });
});
