import { fromBinary } from '@bufbuild/protobuf'
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire'
import { Code, ConnectError } from '@connectrpc/connect'
import * as grpc from '@grpc/grpc-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SchemaViolationSchema } from '../gateway/gen/streamgate/v1/stream_pb.ts'
import {
  CONNECT_ES_TRANSPORTS,
  follow,
  grpcJsClient,
  grpcUnary,
  hostPort,
  metric,
  streamClient,
  toGrpcStruct,
  withToken,
} from './helpers/connect-clients.ts'
import { startGateway, type TestGateway, until } from './helpers/gateway.ts'

let gw: TestGateway
beforeAll(async () => {
  // auth.config.ts: token "bad" is refused, any other token is {userId: token}; stream `private` admits
  // only the user named by the group.
  gw = await startGateway({ auth: true, limits: { maxItemBytes: 4096, maxFrameBytes: 64 * 1024 } })
})
afterAll(async () => {
  await until(async () => (await metric(gw.url, 'streamgate_subscriptions', 'transport="connect"')) === 0, 'connect subscriptions released')
  await gw?.close()

})

/** The error a call ends with (undefined when it succeeds). */
async function failure(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call
  } catch (error) {
    return ConnectError.from(error)
  }
  throw new Error('the call succeeded')
}

/** The error a Subscribe stream ends with, before any event. */
async function subscribeFailure(events: AsyncIterable<unknown>) {
  const stream = follow(events as never)
  await stream.done
  expect(stream.received).toEqual([])
  return stream.error!
}

const ES = Object.entries(CONNECT_ES_TRANSPORTS).filter(([name]) => /gRPC \(|HTTP\/1.1 \(connect-node|gRPC-Web over fetch/.test(name))

describe.each(ES.map(([name, make]) => ({ name, make })))('connect-es, $name', ({ make }) => {
  const client = () => streamClient(make(gw.url))

  it('schema violation: INVALID_ARGUMENT naming every path, in the message and as a SchemaViolation detail; nothing stored', async () => {
    const error = await failure(client().set({ streamName: 'todo', groupId: 'errors', id: 'x', data: { title: '', done: 'yes' } }))
    expect(error.code).toBe(Code.InvalidArgument)
    expect(error.rawMessage).toMatch(/title/)
    expect(error.rawMessage).toMatch(/done/)
    const [violation] = error.findDetails(SchemaViolationSchema)
    expect(violation?.issues.map((i) => i.path).sort()).toEqual(['done', 'title'])
    expect(violation?.issues.every((i) => i.message !== '')).toBe(true)
    expect(error.metadata.get('streamgate-error-code')).toBe('INVALID_ARGUMENT')
    expect((await failure(client().get({ streamName: 'todo', groupId: 'errors', id: 'x' }))).code).toBe(Code.NotFound)
  })

  it('malformed requests: INVALID_ARGUMENT from the core', async () => {
    expect((await failure(client().get({ streamName: 'todo', groupId: 'errors', id: '' }))).code).toBe(Code.InvalidArgument)
    expect((await failure(client().set({ streamName: 'todo', groupId: 'errors', id: 'x' }))).code).toBe(Code.InvalidArgument)
    expect((await failure(client().send({ streamName: 'todo', groupId: 'errors', type: '' }))).code).toBe(Code.InvalidArgument)
  })

  it('unknown stream or item: NOT_FOUND, for calls and for Subscribe', async () => {
    const nowhere = { streamName: 'nope', groupId: 'g' }
    const calls = [() => client().get({ ...nowhere, id: 'x' }), () => client().list(nowhere), () => client().set({ ...nowhere, id: 'x', data: {} }), () => client().send({ ...nowhere, type: 't' })]
    for (const call of calls) {
      const error = await failure(call())
      expect(error.code).toBe(Code.NotFound)
      expect(error.rawMessage).toMatch(/nope/)
    }
    expect((await subscribeFailure(client().subscribe(nowhere))).code).toBe(Code.NotFound)
    expect((await failure(client().get({ streamName: 'todo', groupId: 'errors', id: 'missing' }))).code).toBe(Code.NotFound)
    expect((await failure(client().delete({ streamName: 'todo', groupId: 'errors', id: 'missing' }))).code).toBe(Code.NotFound)
  })

  it('a refused token: UNAUTHENTICATED, for calls and for Subscribe', async () => {
    const bad = withToken('bad')
    expect((await failure(client().listStreams({}, bad))).code).toBe(Code.Unauthenticated)
    expect((await failure(client().set({ streamName: 'chat', groupId: 'g', id: 'x', data: {} }, bad))).code).toBe(Code.Unauthenticated)
    expect((await subscribeFailure(client().subscribe({ streamName: 'chat', groupId: 'g' }, bad))).code).toBe(Code.Unauthenticated)
  })

  it('canAccess decides subscriptions, reads and writes: PERMISSION_DENIED for anyone else', async () => {
    const alice = { streamName: 'private', groupId: 'alice' }
    const bob = withToken('bob')
    expect((await failure(client().set({ ...alice, id: 'n', data: { text: 'hi' } }, bob))).code).toBe(Code.PermissionDenied)
    expect((await failure(client().set({ ...alice, id: 'n', data: { text: 'hi' } }))).code).toBe(Code.PermissionDenied)
    expect((await failure(client().get({ ...alice, id: 'n' }, bob))).code).toBe(Code.PermissionDenied)
    expect((await failure(client().list(alice, bob))).code).toBe(Code.PermissionDenied)
    expect((await failure(client().delete({ ...alice, id: 'n' }, bob))).code).toBe(Code.PermissionDenied)
    expect((await failure(client().send({ ...alice, type: 't' }, bob))).code).toBe(Code.PermissionDenied)
    expect((await subscribeFailure(client().subscribe(alice, bob))).code).toBe(Code.PermissionDenied)

    const own = withToken('alice')
    await client().set({ ...alice, id: 'n', data: { text: 'hi' } }, own)
    expect((await client().get({ ...alice, id: 'n' }, own)).item).toEqual({ id: 'n', text: 'hi' })
    const call = new AbortController()
    const events = follow(client().subscribe(alice, { ...own, signal: call.signal }))
    await events.count(1, 'the owner gets a sync')
    expect(events.received[0]!.event.case).toBe('sync')
    await client().delete({ ...alice, id: 'n' }, own)
    await events.count(2, 'and the delete')
    call.abort()
    await events.done
  })

  it('limits: an item over the item limit, or a request over the frame limit, is RESOURCE_EXHAUSTED', async () => {
    const big = await failure(client().set({ streamName: 'chat', groupId: 'g', id: 'big', data: { text: 'x'.repeat(5000) } }))
    expect(big.code).toBe(Code.ResourceExhausted)
    expect(big.metadata.get('streamgate-error-code')).toBe('PAYLOAD_TOO_LARGE')
    const huge = await failure(client().set({ streamName: 'chat', groupId: 'g', id: 'huge', data: { text: 'x'.repeat(100_000) } }))
    expect(huge.code).toBe(Code.ResourceExhausted)
    expect((await failure(client().get({ streamName: 'chat', groupId: 'g', id: 'big' }))).code).toBe(Code.NotFound)
  })
})

/** google.rpc.Status from `grpc-status-details-bin`, with its details as [type URL, bytes]. */
function statusDetails(bytes: Uint8Array): Array<[string, Uint8Array]> {
  const details: Array<[string, Uint8Array]> = []
  const status = new BinaryReader(bytes)
  while (status.pos < status.len) {
    const [no, wireType] = status.tag()
    if (no !== 3 || wireType !== WireType.LengthDelimited) {
      status.skip(wireType, no)
      continue
    }
    const any = new BinaryReader(status.bytes())
    let typeUrl = ''
    let value: Uint8Array = new Uint8Array()
    while (any.pos < any.len) {
      const [field, type] = any.tag()
      if (field === 1) typeUrl = any.string()
      else if (field === 2) value = any.bytes()
      else any.skip(type, field)
    }
    details.push([typeUrl, value])
  }
  return details
}

describe('@grpc/grpc-js', () => {
  const grpcFailure = async (client: ReturnType<typeof grpcJsClient>, method: string, request: object, metadata = new grpc.Metadata()) => {
    try {
      await grpcUnary(client, method, request, metadata)
    } catch (error) {
      return error as grpc.ServiceError
    }
    throw new Error('the call succeeded')
  }
  const bearer = (token: string) => {
    const metadata = new grpc.Metadata()
    metadata.set('authorization', `Bearer ${token}`)
    return metadata
  }

  it('maps every refusal to its status code; schema paths are in the message and in grpc-status-details-bin', async () => {
    const client = grpcJsClient(hostPort(gw.url))
    try {
      const invalid = await grpcFailure(client, 'Set', { streamName: 'todo', groupId: 'grpc-js', id: 'x', data: toGrpcStruct({ title: '' }) })
      expect(invalid.code).toBe(grpc.status.INVALID_ARGUMENT)
      expect(invalid.details).toMatch(/title/)
      const [[typeUrl, value]] = statusDetails(invalid.metadata.get('grpc-status-details-bin')[0] as Buffer) as [[string, Uint8Array]]
      expect(typeUrl).toBe('type.googleapis.com/streamgate.v1.SchemaViolation')
      expect(fromBinary(SchemaViolationSchema, value).issues.map((i) => i.path)).toEqual(['title'])

      expect((await grpcFailure(client, 'Get', { streamName: 'nope', groupId: 'g', id: 'x' })).code).toBe(grpc.status.NOT_FOUND)
      expect((await grpcFailure(client, 'ListStreams', {}, bearer('bad'))).code).toBe(grpc.status.UNAUTHENTICATED)
      expect((await grpcFailure(client, 'Set', { streamName: 'private', groupId: 'alice', id: 'n', data: toGrpcStruct({ text: 'x' }) }, bearer('bob'))).code).toBe(
        grpc.status.PERMISSION_DENIED,
      )
      expect((await grpcFailure(client, 'Set', { streamName: 'chat', groupId: 'g', id: 'big', data: toGrpcStruct({ text: 'x'.repeat(5000) }) })).code).toBe(
        grpc.status.RESOURCE_EXHAUSTED,
      )

      const status = await new Promise<grpc.StatusObject>((resolve) => {
        const call = client.Subscribe!({ streamName: 'private', groupId: 'alice' }, bearer('bob')) as grpc.ClientReadableStream<unknown>
        call.on('error', () => {})
        call.on('status', resolve)
      })
      expect(status.code).toBe(grpc.status.PERMISSION_DENIED)
    } finally {
      client.close()
    }
  })
})
