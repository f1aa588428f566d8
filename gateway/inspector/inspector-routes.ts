import type { FastifyInstance } from 'fastify'
import type { Gateway } from '../core/gateway.ts'
import { GatewayError } from '../model/errors.ts'
import { httpStatus } from '../transports/http-status.ts'
import { handleRequestsAs } from '../transports/http-requests.ts'
import { loadInspectorAssets } from './inspector-assets.ts'
import { serveAsset } from './static-asset.ts'
import { readStatus } from './status.ts'
import { WriteRate } from './write-rate.ts'

export interface InspectorOptions {
  /** Whether an `authenticate` hook is configured. */
  auth: boolean
}

/**
 * `GET /inspector`: the page and its assets (public: they hold no data, and a browser cannot send a token
 * when it navigates), and `GET /inspector/status`, authenticated like REST. Everything else the page shows
 * comes from the public API with the user's token, so `canAccess` decides it as for any client.
 */
export async function inspectorRoutes(gateway: Gateway, options: InspectorOptions) {
  const assets = await loadInspectorAssets()
  const counter = gateway.metrics.eventsWritten
  const rate = new WriteRate(async () => (await counter.get()).values[0]?.value ?? 0)
  const missing = new GatewayError('NOT_FOUND', 'no such inspector asset')

  return async function (app: FastifyInstance) {
    rate.start()
    app.addHook('onClose', async () => rate.stop())
    app.get('/inspector', (request, reply) => serveAsset(request, reply, assets.page))
    app.get('/inspector/', (_request, reply) => reply.redirect('/inspector', 301))
    app.get<{ Params: { name: string } }>('/inspector/assets/:name', (request, reply) => {
      const asset = assets.files.get(request.params.name)
      if (!asset) return reply.status(httpStatus[missing.code]).send(missing.toJSON())
      return serveAsset(request, reply, asset)
    })
    await app.register(async (api) => {
      handleRequestsAs(api, gateway, 'rest')
      api.get('/inspector/status', async (_request, reply) => {
        reply.header('cache-control', 'no-store')
        return readStatus(gateway.metrics, rate, options.auth)
      })
    })
  }
}
