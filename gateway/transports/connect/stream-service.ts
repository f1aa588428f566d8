import { fromJsonString, toJson } from '@bufbuild/protobuf'
import { ValueSchema } from '@bufbuild/protobuf/wkt'
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect'
import { type Disconnect, disconnectMessage } from '../../core/disconnect.ts'
import type { Gateway } from '../../core/gateway.ts'
import { resumeFromToken, resumeToken } from '../../core/resume-token.ts'
import type { SubscriptionBudget } from '../../core/session.ts'
import type { Wire } from '../../core/wire.ts'
import type { Address } from '../../model/records.ts'
import { type SubscribeRequest, type SubscribeResponse, SubscribeResponseSchema, StreamService } from '../../gen/streamgate/v1/stream_pb.ts'
import { callerOf, cutExchange, type Exchange, exchangeKey } from './call-context.ts'
import { ERROR_CODE_HEADER, toConnectError } from './errors.ts'
import { jsonFormat, preEncodedMessage, protoFormat } from './messages.ts'
import { Outbox } from './outbox.ts'

const transport = 'connect'

/** What a call may have unread before the core holds (and conflates) its frames. */
const OUTBOX_HIGH_WATER_BYTES = 256 * 1024

/** The status a call ends with when the core ends it. */
const disconnectCode: Record<Disconnect, Code> = {
  shutdown: Code.Unavailable,
  slow_consumer: Code.ResourceExhausted,
  internal: Code.Internal,
}

export interface StreamServiceOptions {
  /**
   * After its queue limit, how long a subscriber gets to read up to its RESOURCE_EXHAUSTED end before its
   * stream is cut (HTTP/2: RST_STREAM ENHANCE_YOUR_CALM; HTTP/1.1: the connection closes).
   */
  slowConsumerGraceMs: number
}

/** Proto3 has no absent string: an empty `id` means "the whole group", as the contract says. */
const address = ({ streamName, groupId, id }: { streamName: string; groupId: string; id: string }): Address =>
  id === '' ? { streamName, groupId } : { streamName, groupId, id }
/** Get, Set and Delete name an item; the core refuses an empty id. */
const itemAddress = ({ streamName, groupId, id }: { streamName: string; groupId: string; id: string }) => ({ streamName, groupId, id })


/** The protobuf codec gets each record's bytes as encoded once; JSON gets the message. */
const isBinary = (context: HandlerContext) => !/json/i.test(context.requestHeader.get('content-type') ?? '')

/**
 * StreamService on the core: every method translates its request to a core call and the core's answer
 * (or GatewayError) back; validation, authorisation and subscription semantics are the core's.
 */
export function streamService(gateway: Gateway, options: StreamServiceOptions): ServiceImpl<typeof StreamService> {
  const { metrics, logger } = gateway
  /** Subscriptions count per connection: an HTTP/2 session, whatever number of streams it opens. */
  const budgets = new WeakMap<object, SubscriptionBudget>()
  const budgetOf = (exchange: Exchange | undefined) => {
    if (!exchange) return undefined
    const owner = 'stream' in exchange.request ? exchange.request.stream.session : exchange.request.socket
    if (!owner) return undefined
    let budget = budgets.get(owner)
    if (!budget) budgets.set(owner, (budget = { used: 0 }))
    return budget
  }

  /** Runs a unary call, mapping core errors to Connect codes. */
  const unary = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work()
    } catch (error) {
      throw refusal(error)
    }
  }
  const refusal = (error: unknown) => {
    const failure = toConnectError(error)
    if (failure.code === Code.Internal) logger.error({ err: error }, 'connect call failed')
    metrics.rejectedInputs.inc({ transport, reason: (failure.metadata.get(ERROR_CODE_HEADER) ?? Code[failure.code]).toLowerCase() })
    return failure
  }

  async function* subscribe(request: SubscribeRequest, context: HandlerContext): AsyncGenerator<SubscribeResponse> {
    const caller = callerOf(context)
    const binary = isBinary(context)
    const exchange = context.values.get(exchangeKey)
    let cut: NodeJS.Timeout | undefined
    const outbox = new Outbox<Buffer>(OUTBOX_HIGH_WATER_BYTES, () => session.drained())
    const wire: Wire = {
      write: (frames) => {
        let writable = true
        for (const frame of frames) writable = outbox.push(frame, frame.byteLength)
        return writable
      },
      refused: (_id, _address, error) => outbox.fail(toConnectError(error)),
      close: (reason) => {
        outbox.fail(new ConnectError(disconnectMessage[reason], disconnectCode[reason]))
        // A client that does not read will not read its error either.
        if (reason === 'slow_consumer' && exchange) cut = setTimeout(() => cutExchange(exchange), options.slowConsumerGraceMs).unref()
      },
    }
    const session = gateway.openSession({ caller, transport, format: binary ? protoFormat : jsonFormat, wire, budget: budgetOf(exchange) })
    metrics.connections.inc({ transport })
    // Released when the generator finishes, or when the exchange closes under a write that will never
    // complete (a stream reset while the response waited for the client's flow control).
    let released = false
    const release = () => {
      if (released) return
      released = true
      clearTimeout(cut)
      session.close()
      metrics.connections.dec({ transport })
      exchange?.response.off('close', release)
    }
    exchange?.response.once('close', release)
    try {
      await session.subscribe('subscribe', address(request), resumeFromToken(request.resumeToken))
      for await (const bytes of outbox.drain(context.signal)) {
        yield binary ? preEncodedMessage(bytes) : fromJsonString(SubscribeResponseSchema, bytes.toString())
      }
    } finally {
      release()
    }
  }

  return {
    subscribe,
    get: (request, context) => unary(async () => ({ item: await gateway.get(callerOf(context), itemAddress(request)) })),
    list: (request, context) => unary(async () => ({ items: await gateway.list(callerOf(context), { streamName: request.streamName, groupId: request.groupId }) })),
    set: (request, context) =>
      unary(async () => {
        const { item, created, record } = await gateway.set(callerOf(context), itemAddress(request), request.data)
        return { item, created, timestamp: BigInt(record.timestamp), resumeToken: resumeToken(record.epoch, record.seq) }
      }),
    delete: (request, context) => unary(async () => ({ item: await gateway.delete(callerOf(context), itemAddress(request)) })),
    send: (request, context) =>
      unary(async () => {
        const data = request.data === undefined ? undefined : toJson(ValueSchema, request.data)
        const record = await gateway.send(callerOf(context), address(request), { type: request.type, data })
        return { timestamp: BigInt(record.timestamp) }
      }),
    listStreams: () => unary(async () => ({ streams: gateway.listStreams().map((name) => ({ name })) })),
    listGroups: (request, context) =>
      unary(async () => {
        const page = await gateway.listGroups(callerOf(context), request.streamName, { after: request.after || undefined, limit: request.limit || undefined })
        return { groups: page.groups, nextAfter: page.next ?? '' }
      }),
  }
}
