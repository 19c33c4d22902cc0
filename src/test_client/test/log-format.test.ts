import { describe, expect, it } from 'vitest';
import { formatLogLine } from '../src/log-format.js';

const TIME = Date.parse('2026-11-27T10:00:00.123Z');
const RUN = '1b2c3d4e-0000-4000-8000-000000000000';
const line = (fields: Record<string, unknown>): string =>
  JSON.stringify({ level: 30, time: TIME, pid: 1, hostname: 'h', service: 'test_client', name: 'test_client', ...fields });

describe('formatLogLine (make logs)', () => {
  it('shows a kv_store call as METHOD url -> status (duration)', () => {
    const text = line({
      runId: RUN,
      test: 'test_overwrite',
      method: 'POST',
      url: 'http://kv_store:8080/v1/',
      status: 201,
      durationMs: 3,
      msg: 'kv_store call',
    });
    expect(formatLogLine(text)).toBe('2026-11-27 10:00:00.123 INFO  1b2c3d4e test_overwrite POST http://kv_store:8080/v1/ -> 201 (3ms)');
  });

  it('shows a call that got no answer with its error', () => {
    const text = line({
      level: 40,
      runId: RUN,
      test: 'test_delete',
      method: 'POST',
      url: 'http://kv_store:8080/v1/',
      status: null,
      durationMs: 1,
      error: 'kv_store at http://kv_store:8080/v1/ could not be reached (POST): ECONNREFUSED',
      msg: 'kv_store call failed',
    });
    expect(formatLogLine(text)).toBe(
      '2026-11-27 10:00:00.123 WARN  1b2c3d4e test_delete POST http://kv_store:8080/v1/ -> no answer (1ms) kv_store at http://kv_store:8080/v1/ could not be reached (POST): ECONNREFUSED',
    );
  });

  it('shows a test result', () => {
    expect(formatLogLine(line({ runId: RUN, test: 'test_overwrite', status: 'passed', durationMs: 15, msg: 'test result' }))).toBe(
      '2026-11-27 10:00:00.123 INFO  1b2c3d4e test_overwrite => PASSED (15ms)',
    );
    expect(
      formatLogLine(
        line({
          level: 40,
          runId: RUN,
          test: 'test_delete',
          status: 'failed',
          durationMs: 9,
          error: "step 'x' did not hold",
          msg: 'test result',
        }),
      ),
    ).toBe("2026-11-27 10:00:00.123 WARN  1b2c3d4e test_delete => FAILED (9ms) - step 'x' did not hold");
  });

  it('shows a step that did not hold with its problems', () => {
    const text = line({
      level: 40,
      runId: RUN,
      test: 'test_delete',
      step: 'GET',
      problems: ['status: expected 404, got 200', 'b'],
      msg: 'step did not hold',
    });
    expect(formatLogLine(text)).toBe(
      "2026-11-27 10:00:00.123 WARN  1b2c3d4e test_delete step 'GET' did not hold: status: expected 404, got 200; b",
    );
  });

  it('shows a request test_client served', () => {
    expect(formatLogLine(line({ method: 'GET', url: '/test_delete', status: 200, durationMs: 20, msg: 'request' }))).toBe(
      '2026-11-27 10:00:00.123 INFO  served GET /test_delete -> 200 (20ms)',
    );
  });

  it('shows any other line as its message and fields', () => {
    expect(formatLogLine(line({ msg: 'test_client listening', kvStoreUrl: 'http://kv_store:8080', auth: 'off' }))).toBe(
      '2026-11-27 10:00:00.123 INFO  test_client listening kvStoreUrl=http://kv_store:8080 auth=off',
    );
  });

  it('passes a line that is not a JSON object through unchanged', () => {
    expect(formatLogLine('npm warn something')).toBe('npm warn something');
    expect(formatLogLine('[1,2]')).toBe('[1,2]');
    expect(formatLogLine('')).toBe('');
  });
});
