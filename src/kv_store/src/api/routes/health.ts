import type { Readiness } from '../../readiness.js';
import { jsonAnswer } from '../answers.js';
import type { ApiContext } from '../context.js';
import type { ApiRequest, Route } from '../router.js';

const OK = jsonAnswer(200, '{"status":"ok"}');

/**
 * `/healthz` (the seed's check, unchanged), `/livez` (the process answers: for restarts) and
 * `/readyz` (it should get traffic: for load balancers). All open to all, and they say nothing
 * secret: check names and reasons only.
 */
export function healthRoutes({ readiness }: Pick<ApiContext, 'readiness'>): Route[] {
  return [
    { method: 'GET', path: '/healthz', access: 'open', handle: () => OK },
    { method: 'GET', path: '/livez', access: 'open', handle: () => OK },
    { method: 'GET', path: '/readyz', access: 'open', handle: (request) => readyAnswer(readiness, verbose(request)) },
  ];
}

/**
 * 200 `{"status":"ready"}` or 503 `{"status":"not_ready","checks":[…]}` naming each failing
 * check and why; `verbose` lists every check, passing ones too.
 */
function readyAnswer(readiness: Readiness, verbose: boolean) {
  const report = readiness.report();
  const checks = verbose ? report.checks : report.checks.filter((c) => !c.ok);
  const body = report.ready && !verbose ? { status: 'ready' } : { status: report.ready ? 'ready' : 'not_ready', checks };
  return jsonAnswer(report.ready ? 200 : 503, JSON.stringify(body));
}

/** `?verbose` (with any value, or none) asks for every check. */
function verbose(request: ApiRequest): boolean {
  return new URLSearchParams(request.query).has('verbose');
}
