import fp from 'fastify-plugin'
import { type MountOptions, type MountedGateway, mountGateway } from './mount.ts'

export interface StreamgatePluginOptions extends MountOptions {
  /**
   * Where the gateway's routes go (`/streams/...` becomes `<prefix>/streams/...`). WebSocket upgrades are
   * taken only for the prefix and the paths below it; without a prefix, for every path: then the host app
   * must not serve WebSockets of its own.
   */
  prefix?: string
}

/** What a host app reaches as `app.streamgate`: Motia's `streams` API to write from its own routes. */
export type StreamgateDecoration = Pick<MountedGateway, 'gateway' | 'streams' | 'metrics'>

declare module 'fastify' {
  interface FastifyInstance {
    streamgate: StreamgateDecoration
  }
}

/**
 * The gateway inside an existing fastify app, on the app's own server: REST, SSE, Connect/gRPC-Web (and
 * gRPC and Connect over HTTP/2 when the app is `http2: true`), WebSocket upgrades, health, readiness and
 * metrics, in an encapsulated scope under `prefix`. The store opens while the plugin registers and closes
 * with the app, after every client was told to come back. Server-wide settings stay the host's (request
 * ids, `maxParamLength`, timeouts): `createGateway` is the gateway with its own server.
 */
export const streamgatePlugin = fp<StreamgatePluginOptions>(
  async (host, { prefix = '', ...options }) => {
    let mounted: MountedGateway | undefined
    await host.register(
      async (scope) => {
        mounted = await mountGateway(scope, options)
      },
      { prefix },
    )
    const { gateway, streams, metrics } = mounted!
    host.decorate('streamgate', { gateway, streams, metrics })
  },
  { name: 'streamgate', fastify: '5.x' },
)
