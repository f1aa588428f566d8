import { toJson } from '@bufbuild/protobuf'
import { ValueSchema } from '@bufbuild/protobuf/wkt'
import { Code, type ConnectRouter, type HandlerContext, type MethodImpl, type ServiceImpl } from '@connectrpc/connect'
import type { Gateway } from '../../core/gateway.ts'
import { resumeToken } from '../../core/resume-token.ts'
import { StreamService } from '../../gen/streamgate/v1/stream_pb.ts'
import { authenticateCall, callerOf, logOf } from './call-context.ts'
import { rejectionReason, toConnectError } from './errors.ts'
import { addressOf } from './messages.ts'

const transport = 'connect'

/** Get, Set and Delete name an item; the core refuses an empty id. */
const itemAddress = ({ streamName, groupId, id }: { streamName: string; groupId: string; id: string }) => ({ streamName, groupId, id })

/** The write conditions of a request; proto3's empty string and zero stand for "none". */
const conditionsOf = (request: { ifVersion?: bigint; idempotencyKey: string }) => ({
  ifVersion: request.ifVersion === undefined ? undefined : Number(request.ifVersion),
  idempotencyKey: request.idempotencyKey || undefined,
})

type UnaryMethods = Omit<ServiceImpl<typeof StreamService>, 'subscribe'>

/**
 * StreamService's unary methods on the core, served by connect-es: each translates its request to a core call
 * and the core's answer (or GatewayError) back; validation and authorisation are the core's. Subscribe is
 * served on the HTTP stream itself (subscribe-route.ts).
 */
export function streamServiceRoutes(router: ConnectRouter, gateway: Gateway) {
  const { metrics } = gateway
  /** Runs a unary call, mapping core errors to Connect codes. */
  const unary = async <T>(context: HandlerContext, work: () => Promise<T>): Promise<T> => {
    try {
      return await work()
    } catch (error) {
      const failure = toConnectError(error)
      if (failure.code === Code.Internal) logOf(gateway, context).error({ err: error }, 'connect call failed')
      metrics.rejectedInputs.inc({ transport, reason: rejectionReason(failure) })
      throw failure
    }
  }

  const methods: UnaryMethods = {
    get: (request, context) =>
      unary(context, async () => {
        const { item, version } = await gateway.get(callerOf(context), itemAddress(request))
        return { item, version: BigInt(version) }
      }),
    list: (request, context) => unary(context, async () => ({ items: await gateway.list(callerOf(context), { streamName: request.streamName, groupId: request.groupId }) })),
    set: (request, context) =>
      unary(context, async () => {
        const { item, created, record } = await gateway.set(callerOf(context), itemAddress(request), request.data, {
          ...conditionsOf(request),
          ifAbsent: request.ifAbsent || undefined,
          ttlSeconds: request.ttlSeconds || undefined,
        })
        return { item, created, timestamp: BigInt(record.timestamp), resumeToken: resumeToken(record.epoch, record.seq), version: BigInt(record.seq) }
      }),
    delete: (request, context) => unary(context, async () => ({ item: await gateway.delete(callerOf(context), itemAddress(request), conditionsOf(request)) })),
    send: (request, context) =>
      unary(context, async () => {
        const data = request.data === undefined ? undefined : toJson(ValueSchema, request.data)
        const record = await gateway.send(callerOf(context), addressOf(request), { type: request.type, data }, { idempotencyKey: request.idempotencyKey || undefined })
        return { timestamp: BigInt(record.timestamp) }
      }),
    listStreams: (_request, context) => unary(context, async () => ({ streams: gateway.listStreams().map((name) => ({ name })) })),
    listGroups: (request, context) =>
      unary(context, async () => {
        const page = await gateway.listGroups(callerOf(context), request.streamName, { after: request.after || undefined, limit: request.limit || undefined })
        return { groups: page.groups, nextAfter: page.next ?? '' }
      }),
  }

  const requestGate = authenticateCall(gateway, (failure) => metrics.rejectedInputs.inc({ transport, reason: rejectionReason(failure) }))
  // Every unary method of the contract (UnaryMethods makes the compiler ask for each one's implementation).
  for (const method of StreamService.methods) {
    if (method.methodKind !== 'unary') continue
    router.rpc(method, methods[method.localName as keyof UnaryMethods] as MethodImpl<typeof method>, { requestGate })
  }
}
