import { describe, expect, it } from 'vitest';
import { mismatches } from '../src/run/expectation.js';

const entry = {
  key: 'k',
  value: { a: [1, 2] },
  version: 2,
  revision: 7,
  createdAt: '2026-11-27T10:00:00.000Z',
  updatedAt: '2026-11-27T10:00:01.000Z',
  expiresAt: null,
};

describe('mismatches', () => {
  it('an entry answer that matches holds', () => {
    expect(
      mismatches(
        { status: 200, shape: 'entry', body: { key: 'k', value: { a: [1, 2] }, version: 2 } },
        { status: 200, headers: { etag: '"7"' }, body: entry },
      ),
    ).toEqual([]);
  });

  it('compares values exactly: a different, extra or missing member does not hold', () => {
    const observed = { status: 200, headers: { etag: '"7"' }, body: entry };
    expect(mismatches({ status: 200, body: { value: { a: [1, 2, 3] } } }, observed)).toEqual([
      'body.value: expected {"a":[1,2,3]}, got {"a":[1,2]}',
    ]);
    expect(mismatches({ status: 200, body: { value: { a: [1, 2], b: 1 } } }, observed)).toHaveLength(1);
    expect(mismatches({ status: 200, body: { value: {} } }, observed)).toHaveLength(1);
    expect(mismatches({ status: 200, body: { version: '2' } }, observed)).toEqual(['body.version: expected "2", got 2']);
  });

  it('an entry needs ETag "<revision>"', () => {
    expect(mismatches({ status: 200, shape: 'entry' }, { status: 200, headers: {}, body: entry })).toEqual([
      'header etag: expected "\\"7\\"" (the entry\'s revision), got (missing)',
    ]);
    expect(mismatches({ status: 200, shape: 'entry' }, { status: 200, headers: { etag: '"6"' }, body: entry })).toHaveLength(1);
  });

  it('an error answer needs the contract error body and the expected code', () => {
    const expected = { status: 409, shape: 'error', body: { 'error.code': 'key_exists' } } as const;
    expect(mismatches(expected, { status: 409, headers: {}, body: { error: { code: 'key_exists', message: 'm' } } })).toEqual([]);
    expect(mismatches(expected, { status: 409, headers: {}, body: { error: 'key_exists' } })).toEqual([
      'body: expected the contract error {"error": {"code", "message"}}, got {"error":"key_exists"}',
      'body.error.code: expected "key_exists", got (missing)',
    ]);
  });

  it('a wrong status names the store error code it came with', () => {
    expect(
      mismatches({ status: 201 }, { status: 507, headers: {}, body: { error: { code: 'insufficient_storage', message: 'full' } } }),
    ).toEqual(['status: expected 201, got 507 (insufficient_storage: full)']);
  });

  it('empty means no body at all; a status list accepts any of them', () => {
    expect(mismatches({ status: [204, 404], shape: 'empty' }, { status: 204, headers: {}, body: undefined })).toEqual([]);
    expect(mismatches({ status: [204, 404] }, { status: 200, headers: {}, body: {} })).toEqual(['status: expected 204 or 404, got 200']);
    expect(mismatches({ status: 204, shape: 'empty' }, { status: 204, headers: {}, body: {} })).toEqual(['body: expected none, got {}']);
  });

  it('reads array elements by index and maps over arrays with *; a listing needs its shape', () => {
    const page = {
      revision: 3,
      items: [
        { key: 'a', revision: 1 },
        { key: 'b', revision: 2 },
      ],
      prefixes: [],
      more: false,
      cursor: null,
    };
    const observed = { status: 200, headers: {}, body: page };
    expect(mismatches({ status: 200, shape: 'listing', body: { 'items.*.key': ['a', 'b'], 'items.1.revision': 2 } }, observed)).toEqual([]);
    expect(mismatches({ status: 200, body: { 'items.*.key': ['a'], 'items.2.key': 'c' } }, observed)).toEqual([
      'body.items.*.key: expected ["a"], got ["a","b"]',
      'body.items.2.key: expected "c", got (missing)',
    ]);
    expect(mismatches({ status: 200, shape: 'listing' }, { status: 200, headers: {}, body: { ...page, more: true } })).toHaveLength(1);
    expect(
      mismatches({ status: 200, shape: 'changes' }, { status: 200, headers: {}, body: { revision: 1, changes: [], more: false } }),
    ).toEqual([]);
  });
});
