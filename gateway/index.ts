/**
 * `import { createGateway } from 'streamgate'`: the gateway for code that embeds it, and the types of what it
 * takes. Everything else in dist/ is internal and may change between versions.
 */
export { createGateway, type ServerOptions, type StreamgateServer } from './server.ts'
export { loadHooks, loadStreams } from './config/load-modules.ts'
export type { AuthRequest, Hooks } from './core/auth.ts'
export type { SetConditions, WriteConditions } from './core/conditions.ts'
export type { Limits } from './core/limits.ts'
export type { StreamConfig, Subscription } from './core/stream-config.ts'
export type { MarkedItem, MotiaMarker, StreamHandle } from './core/streams-api.ts'
export type { RedisConfig } from './store/redis-store.ts'
export type { TlsOptions } from './http/one-port.ts'
export { GatewayError, type ErrorCode, type ErrorReason, type SchemaIssue } from './model/errors.ts'
export type { Item, JsonObject, JsonValue } from './model/records.ts'
export { streamgatePlugin, type StreamgateDecoration, type StreamgatePluginOptions } from './plugin.ts'
