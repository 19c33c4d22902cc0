import { describe, expect, it } from 'vitest';
import { topLevelMembers } from '../src/api/json-members.js';

/** Each member as [name, its value's raw text]. */
function spans(text: string): Array<[string, string]> {
  return topLevelMembers(text).map((m) => [m.name, text.slice(m.start, m.end)]);
}

describe('topLevelMembers', () => {
  it('finds nothing in an empty object', () => {
    expect(spans('{}')).toEqual([]);
    expect(spans(' \n{ \t }\r\n')).toEqual([]);
  });

  it('gives each value its exact text, without the surrounding whitespace', () => {
    const text = ' { "key" : "foo" ,\n\t"value":\r\n [ 1 , { "a" : null } ] , "ttl":10 } ';
    expect(spans(text)).toEqual([
      ['key', '"foo"'],
      ['value', '[ 1 , { "a" : null } ]'],
      ['ttl', '10'],
    ]);
  });

  it('handles every kind of scalar', () => {
    const text = '{"s":"x","n":-1.5e+10,"big":12345678901234567890,"inf":1e999,"t":true,"f":false,"z":null}';
    expect(spans(text)).toEqual([
      ['s', '"x"'],
      ['n', '-1.5e+10'],
      ['big', '12345678901234567890'],
      ['inf', '1e999'],
      ['t', 'true'],
      ['f', 'false'],
      ['z', 'null'],
    ]);
  });

  it('is not fooled by escaped quotes, backslashes or brackets inside strings', () => {
    const text = String.raw`{"a\"b":"x\\","c":"}]\"[{","d":["\\\"]"],"e":{"f":"\\"}}`;
    expect(spans(text)).toEqual([
      ['a"b', String.raw`"x\\"`],
      ['c', String.raw`"}]\"[{"`],
      ['d', String.raw`["\\\"]"]`],
      ['e', String.raw`{"f":"\\"}`],
    ]);
  });

  it('decodes escaped member names, so "\\u006bey" is the member key', () => {
    expect(spans('{"\\u006bey":1,"va\\u006Cue":2}')).toEqual([
      ['key', '1'],
      ['value', '2'],
    ]);
  });

  it('reports duplicate names in text order (JSON.parse would keep only the last)', () => {
    expect(spans('{"key":"a","key":"b"}')).toEqual([
      ['key', '"a"'],
      ['key', '"b"'],
    ]);
  });

  it('reports __proto__ and constructor as ordinary names', () => {
    expect(spans('{"__proto__":{"x":1},"constructor":"y"}')).toEqual([
      ['__proto__', '{"x":1}'],
      ['constructor', '"y"'],
    ]);
  });

  it('walks 100000 levels of nesting without overflowing the stack', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const text = `{"value":${deep},"key":"k"}`;
    expect(spans(text)).toEqual([
      ['value', deep],
      ['key', '"k"'],
    ]);
  });
});
