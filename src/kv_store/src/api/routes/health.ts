import { jsonAnswer } from '../answers.js';
import type { Route } from '../router.js';

const OK = jsonAnswer(200, '{"status":"ok"}');

/** `/healthz`: the seed's health check, open to all. */
export function healthRoutes(): Route[] {
  return [{ method: 'GET', path: '/healthz', access: 'open', handle: () => OK }];
}
