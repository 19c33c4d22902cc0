import type { AnswerObserver } from './api/door.js';
import type { Logger } from './logger.js';
import type { RequestMetrics } from './metrics/request-metrics.js';

/** The readiness probe's route (api/routes/health.ts). */
const READINESS_ROUTE = '/readyz';

/**
 * What happens after each answer is written: it is counted (kv_http_requests_total and
 * kv_http_request_duration_seconds), and logged. The log line carries the request id, method,
 * route template, status and duration; at debug every request gets one, with its target (the
 * key is in it, so only at debug); an answer of 500 or more gets one at warn, without the
 * target, so it shows at the default level. Values and tokens are never logged.
 *
 * Except /readyz's 503: "not ready" is that endpoint doing its job, and a load balancer asks it
 * every few seconds, so a warn line per probe would bury the log. What makes it not ready is
 * logged where it happens (recovery, the warm-up, etcd out of reach, a persistence failure);
 * the probes themselves get debug lines, as any request does.
 */
export function answerObserver(logger: Logger, requests: RequestMetrics | undefined): AnswerObserver {
  return (head, status, startedAt) => {
    const seconds = (performance.now() - startedAt) / 1000;
    requests?.observe(head.method, head.route, status, seconds);
    if (status >= 500 && head.route !== READINESS_ROUTE) {
      if (logger.isLevelEnabled('warn')) logger.warn(fields(head, status, seconds), 'request answered with a server error');
    } else if (logger.isLevelEnabled('debug')) {
      logger.debug({ ...fields(head, status, seconds), url: head.target }, 'request');
    }
  };
}

function fields(head: Parameters<AnswerObserver>[0], status: number, seconds: number) {
  return {
    requestId: head.requestId,
    method: head.method,
    route: head.route,
    status,
    durationMs: Math.round(seconds * 1e6) / 1000,
  };
}
