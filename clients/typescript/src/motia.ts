/**
 * `@streamgate/client/motia`: the storage of a Motia 0.17 stream kept in streamgate. Set it as a stream's
 * custom storage and the steps' `streams.<name>.get/set/delete/getGroup/send` go to streamgate over Connect;
 * browsers and services follow the stream on streamgate.
 *
 * ```ts
 * import { streamgateStorage } from '@streamgate/client/motia'
 * export const config: StreamConfig = {
 *   name: 'todo',
 *   schema: z.object({ title: z.string() }),
 *   baseConfig: { storageType: 'custom', factory: streamgateStorage('todo', { address: 'http://localhost:3000', token: () => process.env.STREAMGATE_TOKEN }) },
 * }
 * ```
 */
import { fromJson, type JsonValue } from '@bufbuild/protobuf'
import { ValueSchema } from '@bufbuild/protobuf/wkt'
import { type CallOptions, Code, ConnectError, createClient, type Transport as RpcTransport } from '@connectrpc/connect'
import { createConnectTransport } from '@connectrpc/connect-web'
import { StreamService } from '../gen/streamgate/v1/stream_pb.js'
import { httpBase } from './transport.ts'

export interface StreamgateStorageOptions {
  /** The gateway: `http(s)://host:port` (a `ws(s)://` address works too). */
  address: string
  /** Sent as `Authorization: Bearer`, asked for on every call (so it may rotate). */
  token?: string | (() => string | undefined | Promise<string | undefined>)
  /**
   * A connect-es transport instead of the Connect protocol over fetch: e.g. @connectrpc/connect-node's
   * `createGrpcTransport({ baseUrl })` for one multiplexed HTTP/2 connection.
   */
  transport?: RpcTransport
}

/** Motia's `StreamSubscription` channel and event, as `send` receives them. */
export interface MotiaChannel {
  groupId: string
  id?: string
}
export interface MotiaEvent<T = unknown> {
  type: string
  data: T
}
type Stored<TData> = TData & { id: string }
type Send = (channel: MotiaChannel, event: MotiaEvent) => Promise<void>

/** Motia's `MotiaStream` interface, backed by streamgate. */
export class StreamgateStream<TData extends object = Record<string, unknown>> {
  private motiaSend: Send | undefined

  constructor(
    private readonly client: ReturnType<typeof createClient<typeof StreamService>>,
    private readonly streamName: string,
    private readonly callOptions: () => Promise<CallOptions>,
  ) {}

  async get(groupId: string, id: string): Promise<Stored<TData> | null> {
    const { item } = await orNull(this.client.get({ streamName: this.streamName, groupId, id }, await this.callOptions())) ?? {}
    return (item as Stored<TData> | undefined) ?? null
  }

  /** The stored item (with the stream schema's defaults), as Motia's own storages return it. */
  async set(groupId: string, id: string, data: TData): Promise<Stored<TData>> {
    const { item } = await this.client.set({ streamName: this.streamName, groupId, id, data: data as Record<string, JsonValue> }, await this.callOptions())
    return item as Stored<TData>
  }

  async delete(groupId: string, id: string): Promise<Stored<TData> | null> {
    const { item } = await orNull(this.client.delete({ streamName: this.streamName, groupId, id }, await this.callOptions())) ?? {}
    return (item as Stored<TData> | undefined) ?? null
  }

  async getGroup(groupId: string): Promise<Stored<TData>[]> {
    const { items } = await this.client.list({ streamName: this.streamName, groupId }, await this.callOptions())
    return items as Stored<TData>[]
  }

  /**
   * Motia's server replaces `send` on the object a custom storage returns with a push to its own WebSocket
   * clients only (Workbench's). The accessor keeps streamgate in the path: the event goes to streamgate,
   * then to Motia's push.
   */
  get send(): Send {
    return async (channel, event) => {
      const data = event.data === undefined ? undefined : fromJson(ValueSchema, event.data as JsonValue)
      await this.client.send({ streamName: this.streamName, groupId: channel.groupId, id: channel.id ?? '', type: event.type, data }, await this.callOptions())
      await this.motiaSend?.(channel, event)
    }
  }

  set send(motiaSend: Send) {
    this.motiaSend = motiaSend
  }
}

/** Motia's storages answer a missing item with null. */
async function orNull<T>(call: Promise<T>): Promise<T | null> {
  try {
    return await call
  } catch (error) {
    if (ConnectError.from(error).code === Code.NotFound) return null
    throw error
  }
}

/**
 * The `factory` of a Motia stream's `baseConfig: { storageType: 'custom', factory }`. One client serves every
 * stream object Motia asks the factory for.
 */
export function streamgateStorage<TData extends object = Record<string, unknown>>(streamName: string, options: StreamgateStorageOptions) {
  const { token } = options
  const callOptions = async (): Promise<CallOptions> => {
    const value = typeof token === 'function' ? await token() : token
    return value ? { headers: { authorization: `Bearer ${value}` } } : {}
  }
  // Made on first use: the gateway loads the same stream file for its schema and never calls the factory.
  let client: ReturnType<typeof createClient<typeof StreamService>> | undefined
  return () => {
    client ??= createClient(StreamService, options.transport ?? createConnectTransport({ baseUrl: httpBase(options.address), useBinaryFormat: true }))
    return new StreamgateStream<TData>(client, streamName, callOptions)
  }
}
