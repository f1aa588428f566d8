// Subscribe as served on the HTTP stream itself: every protocol, codec and HTTP version through real
// clients, and the wire forms (trailers, gRPC-Web trailer envelope, Connect end of stream) byte by byte.
import http2 from 'node:http2'
import { gzipSync } from 'node:zlib'
import { Code } from '@connectrpc/connect'
import { compressionGzip, createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node'
import * as grpc from '@grpc/grpc-js'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { follow, grpcJsClient, hostPort, metric, streamClient, summary } from './helpers/connect-clients.ts'
import { startGateway, type TestGateway, until } from './helpers/gateway.ts'
import { endStreamOf, envelope, grpcWebTrailersOf, h1Call, h2Call, messagesOf, type RawAnswer, subscribeMessage } from './helpers/raw-calls.ts'
import { rawGrpcSubscribe } from './helpers/raw-grpc.ts'
import { selfSignedCertificate } from './helpers/tls.ts'

const subscriptions = (url: string) => metric(url, 'streamgate_subscriptions', 'transport="connect"')

/** Every protocol, codec and HTTP version connect-node speaks, against one base URL. */
function everyWay(baseUrl: string, ca?: Buffer) {
  const nodeOptions = ca ? { ca } : undefined
  return {
    'gRPC, HTTP/2, proto': createGrpcTransport({ baseUrl, nodeOptions }),
    'gRPC, HTTP/2, JSON': createGrpcTransport({ baseUrl, nodeOptions, useBinaryFormat: false }),
    'gRPC-Web, HTTP/1.1, proto': createGrpcWebTransport({ baseUrl, nodeOptions, httpVersion: '1.1' }),
    'gRPC-Web, HTTP/1.1, JSON': createGrpcWebTransport({ baseUrl, nodeOptions, httpVersion: '1.1', useBinaryFormat: false }),
    'gRPC-Web, HTTP/2, proto': createGrpcWebTransport({ baseUrl, nodeOptions, httpVersion: '2' }),
    'gRPC-Web, HTTP/2, JSON': createGrpcWebTransport({ baseUrl, nodeOptions, httpVersion: '2', useBinaryFormat: false }),
    'Connect, HTTP/1.1, proto': createConnectTransport({ baseUrl, nodeOptions, httpVersion: '1.1' }),
    'Connect, HTTP/1.1, JSON': createConnectTransport({ baseUrl, nodeOptions, httpVersion: '1.1', useBinaryFormat: false }),
    'Connect, HTTP/2, proto': createConnectTransport({ baseUrl, nodeOptions, httpVersion: '2' }),
    'Connect, HTTP/2, JSON': createConnectTransport({ baseUrl, nodeOptions, httpVersion: '2', useBinaryFormat: false }),
  }
}

describe.each([
  { name: 'cleartext (h2c and HTTP/1.1)', tls: false },
  { name: 'TLS (ALPN h2 and http/1.1)', tls: true },
])('every protocol x codec x HTTP version, $name', ({ tls }) => {
  const certificate = tls ? selfSignedCertificate() : undefined
  let gw: TestGateway
  beforeAll(async () => {
    gw = await startGateway(certificate ? { tls: { cert: certificate.cert, key: certificate.key } } : {})
  })
  afterAll(() => gw?.close())

  it('subscribes and gets the same events, resume tokens and timestamps', async () => {
    const ways = Object.entries(everyWay(gw.url, certificate?.cert))
    const writer = streamClient(ways[0]![1])
    const at = { streamName: 'todo', groupId: 'matrix' }
    await writer.set({ ...at, id: 'a', data: { title: 'first' } })
    const calls = ways.map(([name, transport]) => {
      const abort = new AbortController()
      return { name, abort, events: follow(streamClient(transport).subscribe(at, { signal: abort.signal })) }
    })
    for (const { name, events } of calls) await events.count(1, `the sync over ${name}`)

    await writer.set({ ...at, id: 'a', data: { title: 'second', done: true } })
    await writer.set({ ...at, id: 'b', data: { title: 'bee', n: 2 } })
    await writer.send({ ...at, type: 'group-note' })
    await writer.send({ ...at, id: 'b', type: 'item-note' })
    await writer.delete({ ...at, id: 'b' })
    for (const { name, events } of calls) await events.count(6, `every event over ${name}`)

    const seen = (name: string) => {
      const { events } = calls.find((c) => c.name === name)!
      expect(events.error, name).toBeUndefined()
      return events.received.map((e) => ({ ...summary(e), resumeToken: e.resumeToken, timestamp: e.timestamp }))
    }
    const reference = seen(calls[0]!.name)
    expect(reference.map((e) => e.kind)).toEqual(['sync', 'update', 'create', 'custom', 'custom', 'delete'])
    expect(reference.map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5, 6])
    for (const { name } of calls.slice(1)) expect({ name, events: seen(name) }).toEqual({ name, events: reference })

    for (const { abort } of calls) abort.abort()
    await Promise.all(calls.map((c) => c.events.done))
    // Read in the process: the metrics endpoint is HTTPS with a certificate fetch does not trust.
    const held = async () => (await gw.server.metrics.subscriptions.get()).values.find((v) => v.labels.transport === 'connect')?.value ?? 0
    await until(async () => (await held()) === 0, 'every call released')
  })
})

describe('on the wire', () => {
  let gw: TestGateway
  const limit = 64 * 1024
  beforeAll(async () => {
    gw = await startGateway({ auth: true, limits: { maxFrameBytes: limit, maxSubscriptionsPerConnection: 2 } })
  })
  afterAll(async () => {
    await until(async () => (await subscriptions(gw.url)) === 0, 'every call released')
    await gw?.close()
  })

  const request = (message: Record<string, string>) => envelope(subscribeMessage(message))
  const grpcCall = (body: Buffer, headers: Record<string, string> = {}) => h2Call(gw.url, { headers: { 'content-type': 'application/grpc', te: 'trailers', ...headers }, body })
  const grpcStatus = (answer: RawAnswer) => ({
    status: answer.trailers['grpc-status'],
    message: decodeURIComponent(String(answer.trailers['grpc-message'] ?? '')),
    code: answer.trailers['streamgate-error-code'],
  })

  it('refuses other methods (405) and other content types (415), on both HTTP versions, as connect-es does', async () => {
    const body = request({ streamName: 'todo', groupId: 'g' })
    for (const call of [h1Call, h2Call]) {
      expect((await call(gw.url, { method: 'GET', headers: {}, body: Buffer.alloc(0) })).status).toBe(405)
      expect((await call(gw.url, { headers: { 'content-type': 'application/json' }, body })).status).toBe(415)
      expect((await call(gw.url, { headers: { 'content-type': 'application/grpc-web-text' }, body })).status).toBe(415)
      expect((await call(gw.url, { headers: {}, body })).status).toBe(415)
    }
  })

  it('an error before the first message: in trailers (gRPC), a trailer envelope (gRPC-Web), an end-of-stream message (Connect)', async () => {
    const body = request({ streamName: 'nope', groupId: 'g' })
    const grpcAnswer = await grpcCall(body)
    expect(grpcAnswer).toMatchObject({ status: 200, envelopes: [], rstCode: 0 })
    expect(grpcAnswer.headers['content-type']).toBe('application/grpc+proto')
    expect(grpcStatus(grpcAnswer)).toMatchObject({ status: String(Code.NotFound), code: 'NOT_FOUND', message: expect.stringMatching(/nope/) })

    for (const call of [h1Call, h2Call]) {
      const web = await call(gw.url, { headers: { 'content-type': 'application/grpc-web+proto' }, body })
      expect(web.status).toBe(200)
      expect(web.headers['content-type']).toBe('application/grpc-web+proto')
      expect(web.envelopes.map((e) => e.flags)).toEqual([0x80])
      expect(grpcWebTrailersOf(web)).toMatchObject({ 'grpc-status': String(Code.NotFound), 'streamgate-error-code': 'NOT_FOUND' })

      const connect = await call(gw.url, { headers: { 'content-type': 'application/connect+proto' }, body })
      expect(connect.status).toBe(200)
      expect(connect.headers['content-type']).toBe('application/connect+proto')
      expect(connect.envelopes.map((e) => e.flags)).toEqual([2])
      expect(endStreamOf(connect)).toEqual({ error: { code: 'not_found', message: expect.stringMatching(/nope/) }, metadata: { 'streamgate-error-code': ['NOT_FOUND'] } })
    }
  })

  it('authenticates before the body is read: a refused token ends the call while the request is still open', async () => {
    const refusedCall = h2Call(gw.url, { headers: { 'content-type': 'application/grpc', authorization: 'Bearer bad' }, body: Buffer.from([0, 0, 0]), keepOpen: true })
    expect(grpcStatus(await refusedCall)).toMatchObject({ status: String(Code.Unauthenticated), code: 'UNAUTHENTICATED' })
    refusedCall.close()
    const denied = await grpcCall(request({ streamName: 'private', groupId: 'alice' }), { authorization: 'Bearer bob' })
    expect(grpcStatus(denied)).toMatchObject({ status: String(Code.PermissionDenied), code: 'PERMISSION_DENIED', message: 'Access denied' })
  })

  it('an error after the first message (the deadline of grpc-timeout and connect-timeout-ms) follows the messages', async () => {
    const body = request({ streamName: 'todo', groupId: 'late' })
    const timedOut = { status: String(Code.DeadlineExceeded), message: 'the operation timed out' }
    const grpcAnswer = await grpcCall(body, { 'grpc-timeout': '300m' })
    expect(messagesOf(grpcAnswer).map((m) => m.event.case)).toEqual(['sync'])
    expect(grpcStatus(grpcAnswer)).toMatchObject(timedOut)

    const web = await h1Call(gw.url, { headers: { 'content-type': 'application/grpc-web+json', 'grpc-timeout': '300000u' }, body: envelope(Buffer.from('{"streamName":"todo","groupId":"late"}')) })
    expect(messagesOf(web, true).map((m) => m.event.case)).toEqual(['sync'])
    expect(web.envelopes.map((e) => e.flags)).toEqual([0, 0x80])
    expect(grpcWebTrailersOf(web)).toMatchObject({ 'grpc-status': timedOut.status, 'grpc-message': encodeURIComponent(timedOut.message) })

    const connect = await h2Call(gw.url, { headers: { 'content-type': 'application/connect+proto', 'connect-timeout-ms': '300' }, body })
    expect(connect.envelopes.map((e) => e.flags)).toEqual([0, 2])
    expect(endStreamOf(connect)).toEqual({ error: { code: 'deadline_exceeded', message: timedOut.message } })
  })

  it('a malformed timeout is INVALID_ARGUMENT; one longer than a timer can hold is no deadline', async () => {
    const body = request({ streamName: 'todo', groupId: 'g' })
    expect(grpcStatus(await grpcCall(body, { 'grpc-timeout': 'soon' }))).toMatchObject({ status: String(Code.InvalidArgument), message: 'protocol error: invalid grpc timeout value: soon' })
    const connect = await h1Call(gw.url, { headers: { 'content-type': 'application/connect+proto', 'connect-timeout-ms': '-1' }, body })
    expect(endStreamOf(connect)?.error).toEqual({ code: 'invalid_argument', message: 'protocol error: invalid connect timeout value: -1' })
    // Past what a timer can hold (Node would fire it at once): the call stays.
    const far = h2Call(gw.url, { headers: { 'content-type': 'application/grpc', 'grpc-timeout': '99999999H' }, body, untilEnvelopes: 1 })
    expect(messagesOf(await far).map((m) => m.event.case)).toEqual(['sync'])
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(await subscriptions(gw.url)).toBe(1)
    far.close()
  })

  it('malformed envelopes and messages get the code connect-es gives them', async () => {
    const good = request({ streamName: 'todo', groupId: 'g' })
    const cases: Array<[string, Buffer, Code, RegExp]> = [
      ['no message', Buffer.alloc(0), Code.Unimplemented, /missing input message/],
      ['an incomplete envelope', good.subarray(0, good.length - 2), Code.InvalidArgument, /incomplete envelope/],
      ['a cut envelope header', good.subarray(0, 3), Code.InvalidArgument, /incomplete envelope/],
      ['two messages', Buffer.concat([good, good]), Code.Unimplemented, /extra input message/],
      ['bytes that are no protobuf message', envelope(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])), Code.Internal, /^parse binary/],
      ['a compressed flag without an encoding', envelope(gzipSync(subscribeMessage({ streamName: 'todo', groupId: 'g' })), 1), Code.Internal, /do not know how to decompress/],
    ]
    for (const [what, body, code, message] of cases) {
      const answer = await grpcCall(body)
      expect({ what, envelopes: answer.envelopes.length, status: answer.trailers['grpc-status'] }).toEqual({ what, envelopes: 0, status: String(code) })
      expect(grpcStatus(answer).message, what).toMatch(message)
    }
    const json = await h1Call(gw.url, { headers: { 'content-type': 'application/connect+json' }, body: envelope(Buffer.from('{"streamName": 5}')) })
    expect(endStreamOf(json)?.error?.code).toBe('invalid_argument')
    // A gRPC-Web request may carry a trailer envelope, a Connect request an end-of-stream one: both skipped.
    const web = await h1Call(gw.url, { headers: { 'content-type': 'application/grpc-web+proto', 'grpc-timeout': '200m' }, body: Buffer.concat([good, envelope(Buffer.from('x: y\r\n'), 0x80)]) })
    expect(messagesOf(web).map((m) => m.event.case)).toEqual(['sync'])
  })

  it('refuses a request over the size limit from its envelope header, without waiting for its bytes', async () => {
    const header = Buffer.alloc(5)
    header.writeUInt32BE(limit + 1, 1)
    const expected = `message size ${limit + 1} is larger than configured readMaxBytes ${limit}`
    const over = h2Call(gw.url, { headers: { 'content-type': 'application/grpc' }, body: Buffer.concat([header, Buffer.alloc(100)]), keepOpen: true })
    expect(grpcStatus(await over)).toMatchObject({ status: String(Code.ResourceExhausted), message: expected })
    over.close()
    const overH1 = await h1Call(gw.url, { headers: { 'content-type': 'application/connect+proto' }, body: header, keepOpen: true })
    expect(endStreamOf(overH1)?.error).toEqual({ code: 'resource_exhausted', message: expected })
    // At the limit it is read (and this one is a valid request padded with an unknown field).
    const padded = Buffer.concat([subscribeMessage({ streamName: 'todo', groupId: 'g' }), Buffer.from([0xfa, 0x3f]), varint(limit - 40), Buffer.alloc(limit - 40)])
    expect(padded.length).toBeLessThanOrEqual(limit)
    const atLimit = await h2Call(gw.url, { headers: { 'content-type': 'application/grpc', 'grpc-timeout': '200m' }, body: envelope(padded) })
    expect(messagesOf(atLimit).map((m) => m.event.case)).toEqual(['sync'])
  })

  it('decompresses a gzip request (raw, connect-node and grpc-js); an unknown encoding is UNIMPLEMENTED', async () => {
    const message = subscribeMessage({ streamName: 'todo', groupId: 'zipped' })
    const raw = await grpcCall(envelope(gzipSync(message), 1), { 'grpc-encoding': 'gzip', 'grpc-timeout': '200m' })
    expect(messagesOf(raw).map((m) => m.event.case)).toEqual(['sync'])
    const connect = await h1Call(gw.url, { headers: { 'content-type': 'application/connect+proto', 'connect-content-encoding': 'gzip', 'connect-timeout-ms': '200' }, body: envelope(gzipSync(message), 1) })
    expect(connect.envelopes.map((e) => e.flags)).toEqual([0, 2])

    const unknown = await grpcCall(envelope(message, 1), { 'grpc-encoding': 'snappy' })
    expect(grpcStatus(unknown)).toMatchObject({ status: String(Code.Unimplemented), message: 'unknown compression "snappy": supported encodings are gzip,br' })

    for (const transport of [createGrpcTransport({ baseUrl: gw.url, sendCompression: compressionGzip, compressMinBytes: 1 }), createConnectTransport({ baseUrl: gw.url, httpVersion: '1.1', sendCompression: compressionGzip, compressMinBytes: 1 })]) {
      const events = follow(streamClient(transport).subscribe({ streamName: 'todo', groupId: 'zipped' }, { timeoutMs: 300 }))
      await events.done
      expect(events.received.map((e) => e.event.case)).toEqual(['sync'])
      expect(events.error?.code).toBe(Code.DeadlineExceeded)
    }
    const client = grpcJsClient(hostPort(gw.url), grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': 2 })
    try {
      const call = client.Subscribe!({ streamName: 'todo', groupId: 'zipped' }) as grpc.ClientReadableStream<{ event: string }>
      call.on('error', () => {})
      expect((await new Promise<{ event: string }>((resolve) => call.once('data', resolve))).event).toBe('sync')
      call.cancel()
    } finally {
      client.close()
    }
  })

  it('counts subscriptions per HTTP/2 session, however many streams it opens', async () => {
    const session = http2.connect(gw.url)
    const body = request({ streamName: 'todo', groupId: 'budget' })
    const open = () => h2Call(gw.url, { session, headers: { 'content-type': 'application/grpc' }, body, untilEnvelopes: 1 })
    try {
      const first = open()
      const second = open()
      expect(messagesOf(await first).length + messagesOf(await second).length).toBe(2)
      const third = await open()
      expect(grpcStatus(third)).toMatchObject({ status: String(Code.ResourceExhausted), message: 'at most 2 subscriptions per connection' })
      // Another connection has its own budget; a released subscription frees its place.
      const elsewhere = h2Call(gw.url, { headers: { 'content-type': 'application/grpc' }, body, untilEnvelopes: 1 })
      expect(messagesOf(await elsewhere).map((m) => m.event.case)).toEqual(['sync'])
      elsewhere.close()
      first.close()
      await until(async () => (await subscriptions(gw.url)) === 1, 'the cancelled subscriptions released')
      const again = open()
      expect(messagesOf(await again).map((m) => m.event.case)).toEqual(['sync'])
      again.close()
      second.close()
    } finally {
      session.close()
    }
  })

  it('hostile request bodies on every protocol: always one well-formed answer, and the process keeps serving', async () => {
    const session = http2.connect(gw.url)
    session.on('error', () => {})
    const protocols = ['application/grpc', 'application/grpc+json', 'application/grpc-web', 'application/connect+proto', 'application/connect+json']
    const bytes = fc.uint8Array({ maxLength: 48 }).map((b) => Buffer.from(b))
    const body = fc.oneof(
      bytes,
      fc.record({ flags: fc.integer({ min: 0, max: 255 }), declared: fc.integer({ min: 0, max: 2 * limit }), data: bytes }).map(({ flags, declared, data }) => {
        const header = Buffer.alloc(5)
        header[0] = flags
        header.writeUInt32BE(declared, 1)
        return Buffer.concat([header, data])
      }),
      fc.record({ streamName: fc.constantFrom('todo', 'nope', '', '__proto__', 'x'.repeat(300)), groupId: fc.string({ maxLength: 20 }), resumeToken: fc.string({ maxLength: 20 }) }).map((r) => envelope(subscribeMessage(r))),
    )
    try {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...protocols), fc.boolean(), body, async (contentType, overHttp2, payload) => {
          const options = { headers: { 'content-type': contentType }, body: payload, untilEnvelopes: 1 }
          let answer: RawAnswer
          if (overHttp2) {
            const call = h2Call(gw.url, { ...options, session })
            answer = await call
            call.close()
          } else answer = await h1Call(gw.url, options)
          expect(answer.status).toBe(200)
          const messages = answer.envelopes.filter((e) => e.flags === 0)
          const ends = answer.envelopes.filter((e) => e.flags !== 0)
          if (contentType.startsWith('application/grpc-web')) expect(messages.length + ends.length).toBe(1)
          else if (contentType.startsWith('application/grpc')) expect(messages.length === 1 || answer.trailers['grpc-status'] !== undefined).toBe(true)
          else if (messages.length === 0) expect(endStreamOf(answer)?.error?.code).toMatch(/^[a-z_]+$/)
        }),
        { numRuns: 150 },
      )
      const health = await fetch(`${gw.url}/healthz`, { signal: AbortSignal.timeout(100) })
      expect(health.status).toBe(200)
    } finally {
      session.close()
    }
  })
})

describe('conflation for a reader that stops reading', () => {
  let gw: TestGateway
  beforeAll(async () => {
    gw = await startGateway({ limits: { conflateBytes: 8 * 1024, maxQueueBytes: 4 * 1024 * 1024 } })
  })
  afterAll(() => gw?.close())

  it('merges pending changes of an item into fewer frames carrying `conflated`; custom events all arrive; the end state is the stored one', async () => {
    const at = { streamName: 'chat', groupId: 'conflate' }
    const writer = streamClient(createGrpcTransport({ baseUrl: gw.url }))
    const slow = rawGrpcSubscribe(gw.url, at)
    slow.readUntil(1)
    try {
      await until(() => slow.messages.length === 1, 'the sync')
      const ids = ['a', 'b', 'c', 'd']
      const text = 'x'.repeat(600)
      let changes = 0
      const events: string[] = []
      for (let round = 0; round < 100; round++) {
        for (const id of ids) {
          await writer.set({ ...at, id, data: { round, text } })
          changes += 1
        }
        if (round % 10 === 0) {
          await writer.send({ ...at, type: `tick-${round}` })
          events.push(`tick-${round}`)
        }
        if (round === 50) await writer.delete({ ...at, id: 'd' })
      }
      changes += 1
      const stored = (await writer.list(at)).items
      expect(slow.messages.length).toBeLessThan(10)
      slow.readAll()
      // A merged frame keeps the place (sequence, timestamp) of the oldest change it stands for.
      const represented = () => slow.messages.slice(1).reduce((sum, m) => sum + Math.max(1, m.conflated), 0)
      await until(() => represented() === changes + events.length, 'every change, merged or not')

      const frames = slow.messages.slice(1)
      const changeFrames = frames.filter((m) => m.event.case !== 'custom')
      expect(frames.length).toBeLessThan(changes + events.length)
      expect(changeFrames.some((m) => m.conflated > 1)).toBe(true)
      expect(frames.filter((m) => m.event.case === 'custom').map((m) => (m.event.value as { type: string }).type)).toEqual(events)
      const stamps = frames.map((m) => m.timestamp)
      expect(stamps.every((t, i) => i === 0 || t > stamps[i - 1]!)).toBe(true)

      const state = new Map<string, unknown>()
      for (const m of frames) {
        if (m.event.case === 'create' || m.event.case === 'update') state.set(m.id, m.event.value.item)
        if (m.event.case === 'delete') state.delete(m.id)
      }
      expect([...state.values()]).toEqual(stored)
      expect(await subscriptions(gw.url)).toBe(1)
      expect(await metric(gw.url, 'streamgate_queue_limit_closes_total', 'transport="connect"')).toBe(0)
    } finally {
      slow.close()
    }
  })
})

function varint(value: number): Buffer {
  const bytes: number[] = []
  while (value > 0x7f) {
    bytes.push((value & 0x7f) | 0x80)
    value >>>= 7
  }
  bytes.push(value)
  return Buffer.from(bytes)
}

describe('a round joined once for every call', () => {
  it('gives each call exactly its frames: joined when the previous call had the same buffers, else as they are', async () => {
    const { JoinedFrames } = await import('../gateway/transports/connect/joined-frames.ts')
    const pool = Array.from({ length: 4 }, (_, i) => Buffer.from(`frame-${i}`))
    const frames = fc.array(fc.integer({ min: 0, max: pool.length - 1 }), { minLength: 1, maxLength: 4 }).map((picks) => picks.map((i) => pool[i]!))
    // Rounds often repeat the previous call's frames: the same array's buffers, in a new array.
    const calls = fc.array(fc.oneof(frames, fc.constant('repeat' as const)), { minLength: 1, maxLength: 30 })
    fc.assert(
      fc.property(calls, (sequence) => {
        const joined = new JoinedFrames()
        let previous: Buffer[] = [pool[0]!]
        for (const step of sequence) {
          const current = step === 'repeat' ? [...previous] : step
          const written = joined.of(current)
          if (written) expect(written).toEqual(Buffer.concat(current))
          else expect(current.length).toBeGreaterThan(1)
          if (step === 'repeat' && current.length > 1 && previous !== current) expect(written).toBeDefined()
          previous = current
        }
      }),
    )
  })
})

describe('from a browser of another origin', () => {
  it('answers a Subscribe with the CORS headers the app sets, preflight included', async () => {
    const gw = await startGateway({ corsOrigins: ['https://app.example'] })
    try {
      const origin = 'https://app.example'
      const preflight = await fetch(`${gw.url}/streamgate.v1.StreamService/Subscribe`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-grpc-web' },
      })
      expect(preflight.status).toBe(204)
      expect(preflight.headers.get('access-control-allow-origin')).toBe(origin)
      const answer = await h1Call(gw.url, { headers: { origin, 'content-type': 'application/grpc-web+proto', 'grpc-timeout': '100m' }, body: envelope(subscribeMessage({ streamName: 'todo', groupId: 'cors' })) })
      expect(answer.headers['access-control-allow-origin']).toBe(origin)
      expect(String(answer.headers['access-control-expose-headers']).split(',').map((h) => h.trim().toLowerCase())).toEqual(expect.arrayContaining(['grpc-status', 'grpc-message', 'streamgate-error-code']))
      expect(grpcWebTrailersOf(answer)?.['grpc-status']).toBe(String(Code.DeadlineExceeded))
    } finally {
      await gw.close()
    }
  })
})
