import { INTERNAL } from './auth.ts'
import { GatewayError } from '../model/errors.ts'
import type { Gateway } from './gateway.ts'
import type { Item, JsonObject } from '../model/records.ts'
import type { SetConditions, WriteConditions } from './conditions.ts'

/** The marker Motia's Workbench looks for to auto-subscribe to a returned item. */
export interface MotiaMarker {
  __motia: { type: 'state-stream'; streamName: string; groupId: string; id: string }
}
export type MarkedItem = Item & MotiaMarker

/** Motia's handler API for one stream (`context.streams.<name>`), for code embedded in the gateway. */
export interface StreamHandle {
  get(groupId: string, id: string): Promise<MarkedItem | null>
  /** The item's version (the seq of its last change), for `set`/`delete` with `ifVersion`. */
  version(groupId: string, id: string): Promise<number | null>
  /** `options`: ifAbsent, ifVersion, ttlSeconds, idempotencyKey (a failed condition throws FAILED_PRECONDITION). */
  set(groupId: string, id: string, data: JsonObject, options?: SetConditions): Promise<MarkedItem | null>
  delete(groupId: string, id: string, options?: WriteConditions): Promise<MarkedItem | null>
  getGroup(groupId: string): Promise<MarkedItem[]>
  send(channel: { groupId: string; id?: string }, event: { type: string; data?: unknown }, options?: Pick<WriteConditions, 'idempotencyKey'>): Promise<void>
}

export function streamsApi(gateway: Gateway): Record<string, StreamHandle> {
  const handle = (streamName: string): StreamHandle => {
    const mark = (groupId: string, item: Item): MarkedItem => ({
      ...item,
      __motia: { type: 'state-stream', streamName, groupId, id: item.id },
    })
    const orNull = async <T>(work: Promise<T>): Promise<T | null> => {
      try {
        return await work
      } catch (error) {
        if (error instanceof GatewayError && error.code === 'NOT_FOUND') return null
        throw error
      }
    }
    return {
      get: async (groupId, id) => {
        const found = await orNull(gateway.get(INTERNAL, { streamName, groupId, id }))
        return found && mark(groupId, found.item)
      },
      version: async (groupId, id) => (await orNull(gateway.get(INTERNAL, { streamName, groupId, id })))?.version ?? null,
      // Motia returns null for a falsy value and stores nothing.
      set: async (groupId, id, data, options) => (data ? mark(groupId, (await gateway.set(INTERNAL, { streamName, groupId, id }, data, options)).item) : null),
      delete: async (groupId, id, options) => {
        const item = await orNull(gateway.delete(INTERNAL, { streamName, groupId, id }, options))
        return item && mark(groupId, item)
      },
      getGroup: async (groupId) => (await gateway.list(INTERNAL, { streamName, groupId })).map((item) => mark(groupId, item)),
      send: async ({ groupId, id }, event, options) => {
        await gateway.send(INTERNAL, id === undefined ? { streamName, groupId } : { streamName, groupId, id }, { type: event.type, data: event.data }, options)
      },
    }
  }
  return Object.fromEntries(gateway.listStreams().map((name) => [name, handle(name)]))
}
