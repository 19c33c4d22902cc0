import { describe, expect, it } from 'vitest';
import { unknownVariables } from '../src/env.js';

const KNOWN = ['KV_HOST', 'KV_PORT', 'KV_MAX_KEYS', 'KV_MAX_BODY_BYTES', 'KV_LOG_LEVEL'];

describe('unknownVariables', () => {
  it('names the closest known variable for a typo (KV_PROT -> KV_PORT)', () => {
    expect(unknownVariables({ KV_PROT: '9090' }, ['KV_'], KNOWN)).toEqual([
      'KV_PROT is not a known variable and is ignored; did you mean KV_PORT?',
    ]);
    expect(unknownVariables({ KV_MAX_KEY: '10', KV_LOGLEVEL: 'debug' }, ['KV_'], KNOWN)).toEqual([
      'KV_LOGLEVEL is not a known variable and is ignored; did you mean KV_LOG_LEVEL?',
      'KV_MAX_KEY is not a known variable and is ignored; did you mean KV_MAX_KEYS?',
    ]);
  });

  it('warns without a guess when no known variable is close', () => {
    expect(unknownVariables({ KV_SOMETHING_ELSE_ENTIRELY: '1' }, ['KV_'], KNOWN)).toEqual([
      'KV_SOMETHING_ELSE_ENTIRELY is not a known variable and is ignored',
    ]);
  });

  it('says nothing of known variables or of variables without the prefixes', () => {
    expect(unknownVariables({ KV_PORT: '1', KV_HOST: 'x', PATH: '/bin', KVPORT: '1', TEST_CLIENT_PROT: '1' }, ['KV_'], KNOWN)).toEqual([]);
  });

  it('checks every prefix it is given, in name order', () => {
    expect(unknownVariables({ B_PORTT: '1', A_HOTS: '1' }, ['A_', 'B_'], ['A_HOST', 'B_PORT'])).toEqual([
      'A_HOTS is not a known variable and is ignored; did you mean A_HOST?',
      'B_PORTT is not a known variable and is ignored; did you mean B_PORT?',
    ]);
  });
});
