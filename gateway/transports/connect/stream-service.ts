import { toJson } from '@bufbuild/protobuf'
import { ValueSchema } from '@bufbuild/protobuf/wkt'
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect'
import type { Gateway } from '../../core/gateway.ts'
import { resumeFromToken, resumeToken } from '../../core/resume-token.ts'
import type { SessionSink } from '../../core/session.ts'
import type { Address } from '../../model/records.ts'
import { type SubscribeRequest, type SubscribeResponse, StreamService } from '../../gen/streamgate/v1/stream_pb.ts'
import { callerOf, cutExchange, exchangeKey } from './call-context.ts'
import { ERROR_CODE_HEADER, toConnectError } from './errors.ts'
import { type Outbound, preEncodedMessage, recordMessage, syncMessage } from './messages.ts'
import { Outbox } from './outbox.ts'

const transport = 'connect'

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
  const { metrics, logger, limits } = gateway
  // Bound once: label lookups would otherwise run for every message of every subscriber.
  const framesDelivered = metrics.framesDelivered.labels(transport)

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
    const outbox = new Outbox<Outbound>(limits.maxQueueBytes, (queued) => {
      metrics.queueLimitCloses.inc({ transport })
      logger.warn({ queued }, 'connect outbound queue limit exceeded; ending the call')
      session.close()
      if (exchange) cut = setTimeout(() => cutExchange(exchange), options.slowConsumerGraceMs).unref()
      return new ConnectError('outbound queue limit exceeded (the client reads too slowly) - resubscribe with the last resume_token', Code.ResourceExhausted)
    })
    const sink: SessionSink = {
      record: (record) => {
        const message = recordMessage(record)
        outbox.push(message, message.bytes.byteLength)
      },
      sync: (_id, subscribed, snapshot, reset) => {
        const message = syncMessage(subscribed, snapshot, reset)
        outbox.push(message, message.bytes.byteLength)
      },
      refused: (_id, _address, error) => outbox.fail(refusal(error)),
    }
    const session = gateway.openSession(caller, sink, transport)
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
      // A refusal reaches the sink (and ends the stream below); anything else was refused as INTERNAL too.
      await session
        .subscribe('subscribe', address(request), resumeFromToken(request.resumeToken))
        .catch((error) => logger.error({ err: error }, 'connect subscribe failed'))
      for await (const message of outbox.drain(context.signal)) {
        framesDelivered.inc()
        yield binary ? preEncodedMessage(message) : message.message
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
  }
}
