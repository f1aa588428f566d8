import https from 'node:https'
import { create, createFileRegistry, fromBinary, fromJson, type JsonValue, toBinary, toJson } from '@bufbuild/protobuf'
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt'
import { Code } from '@connectrpc/connect'
import { createGrpcTransport } from '@connectrpc/connect-node'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { follow, fromGrpcStruct, grpcJsClient, grpcUnary, hostPort, streamClient, toGrpcStruct } from './helpers/connect-clients.ts'
import { startGateway, type TestGateway } from './helpers/gateway.ts'
import { selfSignedCertificate } from './helpers/tls.ts'

const REFLECTION_PROTO_DIR = new URL('../third_party/proto', import.meta.url).pathname

/** A reflection client as grpcurl has one: grpc-js with gRPC's reflection.proto, nothing of streamgate's. */
function reflectionClient(target: string, version: 'v1' | 'v1alpha') {
  const definition = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, { includeDirs: [REFLECTION_PROTO_DIR], defaults: true, oneofs: true })
  const pkg = grpc.loadPackageDefinition(definition) as any
  const client = new pkg.grpc.reflection[version].ServerReflection(target, grpc.credentials.createInsecure()) as grpc.Client & {
    ServerReflectionInfo(): grpc.ClientDuplexStream<object, any>
  }
  const stream = client.ServerReflectionInfo()
  const answers: any[] = []
  const waiting: Array<(answer: any) => void> = []
  stream.on('data', (answer) => {
    const next = waiting.shift()
    if (next) next(answer)
    else answers.push(answer)
  })
  stream.on('error', () => {})
  return {
    /** One request, its answer (the protocol answers in order on the one stream). */
    ask(request: object): Promise<any> {
      stream.write({ host: 'localhost', ...request })
      return new Promise((resolve) => (answers.length ? resolve(answers.shift()) : waiting.push(resolve)))
    },
    close() {
      stream.end()
      client.close()
    },
  }
}

const fileNames = (answer: any) =>
  (answer.fileDescriptorResponse.fileDescriptorProto as Buffer[]).map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name)

describe('gRPC server reflection', () => {
  let gw: TestGateway
  beforeAll(async () => {
    gw = await startGateway()
  })
  afterAll(() => gw?.close())

  it.each(['v1', 'v1alpha'] as const)('grpc.reflection.%s lists the services and serves their files, dependencies included', async (version) => {
    const reflection = reflectionClient(hostPort(gw.url), version)
    try {
      const list = await reflection.ask({ listServices: '' })
      expect(list.messageResponse).toBe('listServicesResponse')
      expect(list.validHost).toBe('localhost')
      expect(list.listServicesResponse.service.map((s: { name: string }) => s.name).sort()).toEqual([
        'grpc.reflection.v1.ServerReflection',
        'grpc.reflection.v1alpha.ServerReflection',
        'streamgate.v1.StreamService',
      ])

      expect(fileNames(await reflection.ask({ fileContainingSymbol: 'streamgate.v1.StreamService' }))).toEqual([
        'streamgate/v1/stream.proto',
        'google/protobuf/struct.proto',
      ])
      // Already sent on this stream: only the file asked for.
      expect(fileNames(await reflection.ask({ fileContainingSymbol: 'streamgate.v1.StreamService.Subscribe' }))).toEqual(['streamgate/v1/stream.proto'])
      expect(fileNames(await reflection.ask({ fileContainingSymbol: 'streamgate.v1.SchemaViolation' }))).toEqual(['streamgate/v1/stream.proto'])
      expect(fileNames(await reflection.ask({ fileByFilename: 'google/protobuf/struct.proto' }))).toEqual(['google/protobuf/struct.proto'])
      expect(fileNames(await reflection.ask({ fileContainingSymbol: `grpc.reflection.${version}.ServerReflection` }))).toEqual([
        `grpc/reflection/${version}/reflection.proto`,
      ])

      const extensions = await reflection.ask({ allExtensionNumbersOfType: 'streamgate.v1.SetRequest' })
      expect(extensions.allExtensionNumbersResponse).toEqual({ baseTypeName: 'streamgate.v1.SetRequest', extensionNumber: [] })

      for (const request of [{ fileContainingSymbol: 'streamgate.v1.Nope' }, { fileByFilename: 'nope.proto' }, { fileContainingExtension: { containingType: 'streamgate.v1.SetRequest', extensionNumber: 100 } }]) {
        const answer = await reflection.ask(request)
        expect(answer.messageResponse).toBe('errorResponse')
        expect(answer.errorResponse.errorCode).toBe(Code.NotFound)
        expect(answer.originalRequest).toMatchObject(request)
      }
    } finally {
      reflection.close()
    }
  })

  it('is enough to call the service with no .proto at hand, as grpcurl does', async () => {
    // Descriptors from reflection only.
    const reflection = reflectionClient(hostPort(gw.url), 'v1alpha')
    const answer = await reflection.ask({ fileContainingSymbol: 'streamgate.v1.StreamService' })
    reflection.close()
    const files = (answer.fileDescriptorResponse.fileDescriptorProto as Buffer[]).map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes))
    // Reflection sends the file asked for first, then its dependencies; a registry wants them the other way.
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: files.reverse() }))
    const service = registry.getService('streamgate.v1.StreamService')!
    expect(service.methods.map((m) => m.name)).toEqual(['Subscribe', 'Get', 'List', 'Set', 'Delete', 'Send', 'ListStreams', 'ListGroups'])

    // A dynamic client: JSON in, JSON out, the message types resolved from the registry.
    const definition = Object.fromEntries(
      service.methods.map((method) => [
        method.name,
        {
          path: `/${service.typeName}/${method.name}`,
          requestStream: false,
          responseStream: method.methodKind === 'server_streaming',
          requestSerialize: (json: JsonValue) => Buffer.from(toBinary(method.input, fromJson(method.input, json, { registry }))),
          responseDeserialize: (bytes: Buffer) => toJson(method.output, fromBinary(method.output, bytes), { registry }),
          requestDeserialize: () => ({}),
          responseSerialize: () => Buffer.alloc(0),
        },
      ]),
    )
    const Client = grpc.makeGenericClientConstructor(definition, 'StreamService')
    const client = new Client(hostPort(gw.url), grpc.credentials.createInsecure()) as any
    try {
      const set = await new Promise<any>((resolve, reject) =>
        client.Set({ streamName: 'todo', groupId: 'reflection', id: 'r', data: { title: 'via reflection' } }, (e: Error | null, r: any) => (e ? reject(e) : resolve(r))),
      )
      expect(set).toMatchObject({ created: true, item: { id: 'r', title: 'via reflection', done: false } })
      const call = client.Subscribe({ streamName: 'todo', groupId: 'reflection' }) as grpc.ClientReadableStream<any>
      const first = await new Promise<any>((resolve) => call.once('data', resolve))
      expect(first).toMatchObject({ streamName: 'todo', groupId: 'reflection', sync: { items: [{ id: 'r', title: 'via reflection', done: false }] } })
      call.on('error', () => {})
      call.cancel()
    } finally {
      client.close()
    }
  })
})

describe('gRPC over TLS on the HTTPS port', () => {
  const tls = selfSignedCertificate()
  let gw: TestGateway
  beforeAll(async () => {
    gw = await startGateway({ tls: { cert: tls.cert, key: tls.key } })
  })
  afterAll(() => gw?.close())

  it('serves gRPC (grpc-js and connect-es) and HTTPS/1.1 on one port', async () => {
    expect(gw.url).toMatch(/^https:/)
    const client = grpcJsClient(hostPort(gw.url), grpc.credentials.createSsl(tls.cert))
    try {
      const set = await grpcUnary(client, 'Set', { streamName: 'todo', groupId: 'tls', id: 'a', data: toGrpcStruct({ title: 'secure' }) })
      expect(fromGrpcStruct(set.item)).toEqual({ id: 'a', title: 'secure', done: false })
      const call = client.Subscribe!({ streamName: 'todo', groupId: 'tls' }) as grpc.ClientReadableStream<any>
      const sync = await new Promise<any>((resolve) => call.once('data', resolve))
      expect(sync.sync.items.map(fromGrpcStruct)).toEqual([{ id: 'a', title: 'secure', done: false }])
      call.on('error', () => {})
      call.cancel()
    } finally {
      client.close()
    }

    const es = streamClient(createGrpcTransport({ baseUrl: gw.url, nodeOptions: { ca: tls.cert } }))
    const call = new AbortController()
    const events = follow(es.subscribe({ streamName: 'todo', groupId: 'tls' }, { signal: call.signal }))
    await events.count(1, 'sync over TLS')
    await es.set({ streamName: 'todo', groupId: 'tls', id: 'b', data: { title: 'also secure' } })
    await events.count(2, 'a change over TLS')
    expect(events.received.map((e) => e.event.case)).toEqual(['sync', 'create'])
    call.abort()
    await events.done

    // An HTTPS/1.1 client, as a browser that offers both: ALPN picks http/1.1 when h2 is not offered.
    const health = await new Promise<{ status?: number; version: string; alpn: string | false | null; body: string }>((resolve, reject) => {
      const request = https.get(`${gw.url}/healthz`, { ca: tls.cert, ALPNProtocols: ['http/1.1'] } as https.RequestOptions, (response) => {
        const alpn = (response.socket as import('node:tls').TLSSocket).alpnProtocol
        let body = ''
        response.on('data', (chunk) => (body += chunk))
        response.on('end', () => resolve({ status: response.statusCode, version: response.httpVersion, alpn, body }))
      })
      request.on('error', reject)
    })
    expect(health).toEqual({ status: 200, version: '1.1', alpn: 'http/1.1', body: '{"status":"ok"}' })
  })
})
