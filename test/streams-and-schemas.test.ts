import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadStreams } from '../gateway/config/load-modules.ts'
import { GatewayError } from '../gateway/model/errors.ts'
import { validatorFor } from '../gateway/core/schema.ts'
import { rawClient } from './helpers/raw-ws.ts'
import { rest, startGateway, type TestGateway, until } from './helpers/gateway.ts'

describe('stream definitions', () => {
  it("loads Motia's own open-ai.stream.ts unchanged, without the motia package", async () => {
    await expect(import('motia' as string)).rejects.toThrow()
    const configs = await loadStreams([new URL('../examples/streams', import.meta.url).pathname])
    expect(configs.map((c) => c.name).sort()).toEqual(['openai', 'todo'])
  })

  it('finds .ts, .js and .mjs stream files in nested folders', async () => {
    const configs = await loadStreams([new URL('./fixtures', import.meta.url).pathname])
    expect(configs.map((c) => c.name).sort()).toEqual(['chat', 'legacy', 'private', 'python', 'short', 'slow', 'todo'])
  })

  it('refuses a schema it cannot use', () => {
    expect(() => validatorFor('not a schema')).toThrow(/Standard Schema|JSON Schema/)
  })
})

describe('schemas: zod 4, zod 3 and JSON Schema all validate Set, naming each path', () => {
  let gw: TestGateway
  beforeAll(async () => {
    gw = await startGateway()
  })
  afterAll(() => gw.close())

  const paths = async (path: string, body: unknown) => {
    const response = await rest(gw.url, 'PUT', path, body)
    expect(response.status).toBe(400)
    return response.body.details.map((d: { path: string }) => d.path).sort()
  }

  it('zod 4 (todo)', async () => {
    expect(await paths('/streams/todo/s/a', { title: 3, n: 'x' })).toEqual(['n', 'title'])
    expect((await rest(gw.url, 'PUT', '/streams/todo/s/a', { title: 'ok' })).body).toEqual({ title: 'ok', done: false, id: 'a' })
  })

  it('zod 3 (legacy, a .js stream)', async () => {
    expect(await paths('/streams/legacy/s/a', { count: 1.5 })).toEqual(['count'])
    expect((await rest(gw.url, 'PUT', '/streams/legacy/s/a', { count: 2 })).status).toBe(201)
  })

  it('JSON Schema (python)', async () => {
    expect(await paths('/streams/python/s/a', { tags: [1] })).toEqual(['price', 'tags.0'])
    expect(await paths('/streams/python/s/a', { price: -1 })).toEqual(['price'])
    expect((await rest(gw.url, 'PUT', '/streams/python/s/a', { price: 9.5, tags: ['x'] })).status).toBe(201)
  })

  it('a rejected write sends nothing to subscribers', async () => {
    const c = await rawClient(gw.wsUrl)
    c.join('todo', 'quiet')
    await until(() => c.frames.length === 1, 'sync')
    expect((await rest(gw.url, 'PUT', '/streams/todo/quiet/a', { title: '' })).status).toBe(400)
    await rest(gw.url, 'PUT', '/streams/todo/quiet/b', { title: 'valid' })
    await until(() => c.frames.length === 2, 'the valid write')
    expect(c.frames[1]).toMatchObject({ id: 'b', event: { type: 'create' } })
    c.close()
  })
})

describe("the in-process API mirrors Motia's handler API", () => {
  let gw: TestGateway
  beforeAll(async () => {
    gw = await startGateway()
  })
  afterAll(() => gw.close())

  it('set returns the stored item with its id and the __motia marker; frames never carry __motia', async () => {
    const todo = gw.server.streams.todo!
    const c = await rawClient(gw.wsUrl)
    c.join('todo', 'api')
    await until(() => c.frames.length === 1, 'sync')
    const stored = await todo.set('api', 't1', { title: 'x' })
    expect(stored).toEqual({ title: 'x', done: false, id: 't1', __motia: { type: 'state-stream', streamName: 'todo', groupId: 'api', id: 't1' } })
    expect(await todo.get('api', 't1')).toEqual(stored)
    expect(await todo.getGroup('api')).toEqual([stored])
    expect(await todo.get('api', 'missing')).toBeNull()
    expect(await todo.set('api', 't2', null as never)).toBeNull()
    await todo.send({ groupId: 'api' }, { type: 'hello', data: 1 })
    expect(await todo.delete('api', 't1')).toEqual(stored)
    expect(await todo.delete('api', 't1')).toBeNull()
    await until(() => c.frames.length === 4, 'create, event, delete')
    expect(c.frames.map((f) => f.event.type)).toEqual(['sync', 'create', 'event', 'delete'])
    expect(JSON.stringify(c.frames)).not.toContain('__motia')
  })

  it('rejects invalid items with the same error as every transport', async () => {
    const error = await gw.server.streams.todo!.set('api', 't3', { title: '' }).catch((e) => e)
    expect(error).toBeInstanceOf(GatewayError)
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: [{ path: 'title' }] })
  })

  it("stores a copy: mutating the caller's object afterwards changes nothing", async () => {
    const data = { title: 'orig', nested: { a: 1 } }
    await gw.server.streams.chat!.set('copy', 'x', data)
    data.nested.a = 2
    data.title = 'changed'
    expect(await gw.server.streams.chat!.get('copy', 'x')).toMatchObject({ title: 'orig', nested: { a: 1 } })
  })
})
