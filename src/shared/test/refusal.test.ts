import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_STATUS, type ErrorCode, errorBody, Refusal } from '../src/index.js';

describe('Refusal', () => {
  it('is an Error with its message and no stack frames, and leaves the stack trace limit as it was', () => {
    const before = Error.stackTraceLimit;
    const refusal = new Refusal("key 'a' not found");
    expect(refusal).toBeInstanceOf(Error);
    expect(refusal.message).toBe("key 'a' not found");
    expect(refusal.stack).toBe("Error: key 'a' not found");
    expect(Error.stackTraceLimit).toBe(before);
    // A fault still has its stack.
    expect(new Error('fault').stack).toMatch(/\n\s+at /);
  });

  it('keeps a subclass its name, fields and instanceof', () => {
    class Gone extends Refusal {
      override readonly name = 'Gone';
      constructor(readonly key: string) {
        super(`key '${key}' is gone`);
      }
    }
    const gone = new Gone('k');
    expect(gone).toBeInstanceOf(Gone);
    expect(gone).toBeInstanceOf(Refusal);
    expect(gone.key).toBe('k');
    expect(String(gone)).toBe("Gone: key 'k' is gone");
  });
});

describe('errorBody', () => {
  const codes = Object.keys(ERROR_STATUS) as ErrorCode[];

  it('is the contract JSON of code and message for any message', () => {
    fc.assert(
      fc.property(fc.constantFrom(...codes), fc.string({ unit: 'binary' }), (code, message) => {
        const body = errorBody(code, message);
        expect(JSON.parse(body)).toEqual({ error: { code, message } });
        expect(body).toBe(JSON.stringify({ error: { code, message } }));
      }),
      { numRuns: 2000 },
    );
  });

  it('carries details beside code and message', () => {
    expect(JSON.parse(errorBody('cursor_expired', 'm', { revision: 7, lastKey: 'a/b' }))).toEqual({
      error: { code: 'cursor_expired', message: 'm', revision: 7, lastKey: 'a/b' },
    });
  });
});
