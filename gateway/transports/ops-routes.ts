import type { FastifyInstance } from 'fastify'
import type { Metrics } from '../observability/metrics.ts'

/** Liveness, readiness and Prometheus metrics; unauthenticated, as orchestrators and scrapers expect. */
export function opsRoutes(metrics: Metrics, isReady: () => boolean) {
  return async function (app: FastifyInstance) {
    app.get('/healthz', async () => ({ status: 'ok' }))
    app.get('/readyz', async (_request, reply) =>
      isReady() ? { status: 'ready' } : reply.status(503).send({ status: 'not ready' }),
    )
    app.get('/metrics', async (_request, reply) =>
      reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
    )
  }
}
