import { typedAnswer } from '../answers.js';
import type { ApiContext } from '../context.js';
import type { Route } from '../router.js';

/** `/metrics`: Prometheus' text format; needs the read token when access control is on; absent with KV_METRICS=off. */
export function metricsRoutes({ metrics }: Pick<ApiContext, 'metrics'>): Route[] {
  if (!metrics.enabled) return [];
  return [
    {
      method: 'GET',
      path: '/metrics',
      access: 'read',
      handle: () => metrics.render().then((text) => typedAnswer(200, metrics.contentType, text)),
    },
  ];
}
