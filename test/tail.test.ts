// `streamgate tail`, the real command against real gateways: every frame of the log as one JSON line, the
// same frames a WebSocket subscriber gets; resume through a cut connection without a new sync; SIGINT; and
// one line for each way it can fail.
import fc from 'fast-check'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { killCliProcesses, runCli } from './helpers/cli-process.ts'
import { grpcJsClient, grpcUnary, hostPort, toGrpcStruct } from './helpers/connect-clients.ts'
import { rest, startGateway, type TestGateway, until } from './helpers/gateway.ts'
import { type Frame, rawClient } from './helpers/raw-ws.ts'
import { TcpProxy } from './helpers/tcp-proxy.ts'

// Starting the command compiles the TypeScript it runs: on a busy machine that takes seconds.
const STARTUP_MS = 20_000

afterEach(killCliProcesses)

/** The command's stdout as frames: every line must be one JSON frame. */
const framesOf = (stdout: string): Frame[] =>
  stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Frame)

function tail(args: string[], env: Record<string, string> = {}) {
  const run = runCli(['tail', ...args], env)
  return { ...run, frames: () => framesOf(run.stdout()) }
}

const put = (gw: TestGateway, path: string, body: unknown, headers: Record<string, string> = {}) => rest(gw.url, 'PUT', `/streams/${path}`, body, headers)

describe('streamgate tail', () => {
  let gw: TestGateway
  beforeAll(async () => {
    gw = await startGateway({ auth: true })
  })
  afterAll(async () => {
    await gw?.close()
  })

  it('prints the sync, then every change and event of the group as it happens: the frames a WebSocket subscriber gets', async () => {
    await put(gw, 'todo/tail/a', { title: 'before' })
    const watcher = await rawClient(gw.wsUrl)
    watcher.join('todo', 'tail')
    const run = tail(['todo/tail', '--url', gw.url])
    await until(() => run.frames().length === 1, 'the sync', STARTUP_MS)
    expect(run.frames()[0]!.event).toMatchObject({ type: 'sync', data: [{ id: 'a', title: 'before', done: false }] })

    const grpc = grpcJsClient(hostPort(gw.url))
    try {
      await put(gw, 'todo/tail/b', { title: 'second' })
      await grpcUnary(grpc, 'Set', { streamName: 'todo', groupId: 'tail', id: 'a', data: toGrpcStruct({ title: 'over gRPC', done: true }) })
      await rest(gw.url, 'POST', '/streams/todo/tail/events', { type: 'note', data: { text: 'line\nbreak' } })
      await rest(gw.url, 'POST', '/streams/todo/tail/b/events', { type: 'poke' })
      await rest(gw.url, 'DELETE', '/streams/todo/tail/b')
    } finally {
      grpc.close()
    }
    await until(() => run.frames().length === 6 && watcher.frames.length === 6, 'five changes')
    expect(run.frames().map((f) => `${f.event.type} ${f.id ?? ''}`.trim())).toEqual(['sync', 'create b', 'update a', 'event', 'event b', 'delete b'])
    expect(run.frames().slice(1)).toEqual(watcher.frames.slice(1))
    expect(run.frames().map((f) => f.sequence)).toEqual([1, 2, 3, 4, 5, 6])
    expect(run.stdout().split('\n')).toHaveLength(7)
    watcher.close()

    run.child.kill('SIGINT')
    expect(await run.exited).toBe(0)
    expect(run.stderr()).toBe('')
  })

  it('follows one item: its sync (null before it exists), then only its own changes', async () => {
    const run = tail(['todo/tail-item/x', '--url', gw.url])
    await until(() => run.frames().length === 1, 'the sync', STARTUP_MS)
    expect(run.frames()[0]!.event).toEqual({ type: 'sync', data: null })
    await put(gw, 'todo/tail-item/y', { title: 'not this one' })
    await put(gw, 'todo/tail-item/x', { title: 'this one' })
    await rest(gw.url, 'DELETE', '/streams/todo/tail-item/x')
    await until(() => run.frames().length === 3, 'two changes of x')
    expect(run.frames().map((f) => `${f.event.type} ${f.id ?? ''}`)).toEqual(['sync x', 'create x', 'delete x'])
  })

  it('resumes after the connection is cut: the missed changes once each, in order, and no new sync', async () => {
    const proxy = await TcpProxy.start([gw.port])
    try {
      const run = tail(['todo/tail-resume', '--url', `http://127.0.0.1:${proxy.port}`])
      await until(() => run.frames().length === 1, 'the sync', STARTUP_MS)
      await put(gw, 'todo/tail-resume/a', { title: 'a' })
      await until(() => run.frames().length === 2, 'a live change')
      proxy.block()
      proxy.cut()
      for (const id of ['b', 'c', 'd']) await put(gw, `todo/tail-resume/${id}`, { title: id })
      await put(gw, 'todo/tail-resume/a', { title: 'a, edited while away' })
      await until(() => run.stderr().includes('connection lost'), 'the outage noticed')
      proxy.unblock()
      await until(() => run.frames().length === 6, 'the missed changes', STARTUP_MS)
      expect(run.frames().map((f) => `${f.event.type} ${f.id ?? ''} ${f.sequence}`)).toEqual(['sync  0', 'create a 1', 'create b 2', 'create c 3', 'create d 4', 'update a 5'])
      await until(() => run.stderr().includes('reconnected'), 'the reconnect reported')
      expect(run.stderr().trim().split('\n').map((l) => l.replace(/\(.*\)/, '(…)'))).toEqual(['streamgate tail: connection lost (…); reconnecting', 'streamgate tail: reconnected'])
      await put(gw, 'todo/tail-resume/e', { title: 'e' })
      await until(() => run.frames().length === 7, 'live again')
    } finally {
      await proxy.close()
    }
  })

  it('prints one JSON line per frame, whatever the items hold, each the item as stored', async () => {
    const run = tail(['chat/tail-hostile', '--url', gw.url])
    await until(() => run.frames().length === 1, 'the sync', STARTUP_MS)
    const text = fc.string({ unit: 'binary', maxLength: 20 })
    const value = fc.oneof(text, fc.constantFrom('a\nb', 'a\r\nb', '\u2028\u2029', '\n'), fc.jsonValue({ maxDepth: 2 }))
    const key = text.filter((k) => !['__proto__', 'constructor', 'prototype', 'id'].includes(k))
    let n = 0
    await fc.assert(
      fc.asyncProperty(fc.dictionary(key, value, { maxKeys: 4 }), async (data) => {
        const id = `i${++n}`
        const { body } = await put(gw, `chat/tail-hostile/${id}`, data)
        await until(() => run.frames().length === n + 1, `the frame of ${id}`)
        const last = run.frames().at(-1)!
        expect(last.event).toEqual({ type: 'create', data: body })
      }),
      { numRuns: 25 },
    )
    expect(run.stdout().split('\n')).toHaveLength(n + 2)
  })

  it('takes the token from --token or STREAMGATE_TOKEN, and sends it as the subscription`s credentials', async () => {
    await put(gw, 'private/alice/m', { text: 'hers' }, { authorization: 'Bearer alice' })
    for (const args of [['--token', 'alice'], []]) {
      const run = tail(['private/alice', '--url', gw.url, ...args], args.length ? {} : { STREAMGATE_TOKEN: 'alice' })
      await until(() => run.frames().length === 1, 'the sync', STARTUP_MS)
      expect(run.frames()[0]!.event).toEqual({ type: 'sync', data: [{ id: 'm', text: 'hers' }] })
    }
  })

  it('ends with one line and exit 1 on an unknown stream, a refusal, a refused token or an unreachable gateway', async () => {
    const closed = await startGateway()
    const nowhere = closed.url
    await closed.close()
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['nope/g', '--url', gw.url], {}, /^streamgate tail: nope\/g: stream "nope" is not defined \(NOT_FOUND\)$/],
      [['private/bob', '--url', gw.url, '--token', 'alice'], {}, /^streamgate tail: private\/bob: Access denied \(STREAM_ACCESS_DENIED\)$/],
      [['private/alice', '--url', gw.url], { STREAMGATE_TOKEN: 'bad' }, /^streamgate tail: http:\/\/127\.0\.0\.1:\d+ refused the token: authentication failed$/],
      [['todo/g', '--url', nowhere], {}, /^streamgate tail: cannot reach http:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED 127\.0\.0\.1:\d+$/],
    ]
    await Promise.all(
      cases.map(async ([args, env, line]) => {
        const run = tail(args, env)
        expect(await run.exited, args.join(' ')).toBe(1)
        expect(run.stdout()).toBe('')
        expect(run.stderr().trimEnd()).toMatch(line)
        // The token never appears in what it prints.
        expect(run.stderr()).not.toContain('bad')
      }),
    )
  })

  it('exits 2 with its usage on a malformed target or flag', async () => {
    await Promise.all(
      [['todo'], ['todo/%E0/x'], ['a/b', '--url', 'ftp://x'], ['a/b', '--bogus']].map(async (args) => {
        const run = tail(args)
        expect(await run.exited, args.join(' ')).toBe(2)
        expect(run.stderr()).toMatch(/^streamgate tail: .+\n\nUsage: streamgate tail/)
      }),
    )
  })

  it('comes back after the gateway restarts, with the fresh state of the new run (a reset sync)', async () => {
    let other = await startGateway()
    try {
      await put(other, 'todo/restart/a', { title: 'first run' })
      const run = tail(['todo/restart', '--url', other.url])
      await until(() => run.frames().length === 1, 'the sync', STARTUP_MS)
      const port = other.port
      await other.close()
      other = await startGateway({ port })
      await put(other, 'todo/restart/b', { title: 'second run' })
      // The command may come back before or after the write: a reset sync of the new run holding b, or an
      // empty one followed by b's create; nothing of the old run is replayed.
      const afterRestart = () => run.frames().slice(1)
      const itemsNow = () => {
        const [sync, ...changes] = afterRestart()
        return [...(sync?.event.data as unknown[] | undefined ?? []), ...changes.map((f) => f.event.data)]
      }
      await until(() => itemsNow().length === 1, 'the new run followed', STARTUP_MS)
      expect(afterRestart()[0]!.event).toMatchObject({ type: 'sync', reset: true })
      expect(afterRestart().map((f) => f.event.type)).toEqual(afterRestart().length === 1 ? ['sync'] : ['sync', 'create'])
      expect(itemsNow()).toMatchObject([{ id: 'b', title: 'second run' }])
      // (Whether it says "connection lost" depends on whether its first reconnect found the new run already
      // listening; the outage test above asserts that line.)
    } finally {
      await other.close()
    }
  })
})
