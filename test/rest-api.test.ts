import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rest, startGateway, type TestGateway } from './helpers/gateway.ts'

let gw: TestGateway
let authGw: TestGateway
beforeAll(async () => {
  gw = await startGateway({ limits: { maxItemBytes: 64 * 1024 } })
  authGw = await startGateway({ auth: true })
})
afterAll(async () => {
  await gw.close()
  await authGw.close()
})

describe('REST', () => {
  it('creates (201), updates (200), reads, lists and deletes items; every item carries its id', async () => {
    expect(await rest(gw.url, 'PUT', '/streams/todo/r1/a', { title: 'one' })).toMatchObject({ status: 201, body: { id: 'a', title: 'one', done: false } })
    expect(await rest(gw.url, 'PUT', '/streams/todo/r1/a', { title: 'two', done: true })).toMatchObject({ status: 200, body: { id: 'a', title: 'two', done: true } })
    expect(await rest(gw.url, 'GET', '/streams/todo/r1/a')).toMatchObject({ status: 200, body: { id: 'a', title: 'two' } })
    expect((await rest(gw.url, 'GET', '/streams/todo/r1')).body).toEqual([{ id: 'a', title: 'two', done: true }])
    expect(await rest(gw.url, 'DELETE', '/streams/todo/r1/a')).toMatchObject({ status: 200, body: { id: 'a', title: 'two' } })
    expect((await rest(gw.url, 'GET', '/streams/todo/r1/a')).status).toBe(404)
  })

  it('answers an empty or unknown group of a known stream with 200 []', async () => {
    expect(await rest(gw.url, 'GET', '/streams/todo/never-written')).toMatchObject({ status: 200, body: [] })
  })

  it('lists the streams', async () => {
    const { body } = await rest(gw.url, 'GET', '/streams')
    expect(body.streams.map((s: { name: string }) => s.name).sort()).toEqual(['chat', 'legacy', 'private', 'python', 'todo'])
  })

  it('accepts custom events with 202', async () => {
    expect((await rest(gw.url, 'POST', '/streams/chat/r2/events', { type: 'typing', data: { who: 'u' } })).status).toBe(202)
    expect((await rest(gw.url, 'POST', '/streams/chat/r2/m1/events', { type: 'seen' })).status).toBe(202)
  })
})

describe('REST bad input: a clear error, and nothing stored changes', () => {
  const cases: Array<[string, string, string, unknown, number, string]> = [
    ['schema violation', 'PUT', '/streams/todo/bad/a', { title: '', done: 'yes' }, 400, 'INVALID_ARGUMENT'],
    ['array body', 'PUT', '/streams/todo/bad/a', [1, 2], 400, 'INVALID_ARGUMENT'],
    ['id that contradicts the path', 'PUT', '/streams/todo/bad/a', { id: 'b', title: 'x' }, 400, 'INVALID_ARGUMENT'],
    ['unknown stream (write)', 'PUT', '/streams/nope/bad/a', { title: 'x' }, 404, 'NOT_FOUND'],
    ['unknown stream (read)', 'GET', '/streams/nope/bad', undefined, 404, 'NOT_FOUND'],
    ['missing item', 'GET', '/streams/todo/bad/zzz', undefined, 404, 'NOT_FOUND'],
    ['delete of a missing item', 'DELETE', '/streams/todo/bad/zzz', undefined, 404, 'NOT_FOUND'],
    ['oversized item', 'PUT', '/streams/chat/bad/a', { text: 'x'.repeat(70 * 1024) }, 413, 'PAYLOAD_TOO_LARGE'],
    ['event without a type', 'POST', '/streams/chat/bad/events', { data: 1 }, 400, 'INVALID_ARGUMENT'],
  ]
  it.each(cases)('%s', async (_name, method, path, body, status, code) => {
    await rest(gw.url, 'PUT', '/streams/todo/bad/a', { title: 'kept' })
    const before = (await rest(gw.url, 'GET', '/streams/todo/bad')).body
    const response = await rest(gw.url, method, path, body)
    expect(response.status).toBe(status)
    expect(response.body).toMatchObject({ code, message: expect.any(String), details: expect.any(Array) })
    expect((await rest(gw.url, 'GET', '/streams/todo/bad')).body).toEqual(before)
  })

  it('names every offending path of a schema violation', async () => {
    const { body } = await rest(gw.url, 'PUT', '/streams/todo/bad/b', { title: '', done: 'yes' })
    expect(body.details.map((d: { path: string }) => d.path).sort()).toEqual(['done', 'title'])
    expect(body.message).toMatch(/title/)
  })

  it('rejects malformed JSON with 400', async () => {
    const response = await fetch(`${gw.url}/streams/todo/bad/a`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"title":' })
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({ code: 'INVALID_ARGUMENT' })
  })

  it('rejects a non-JSON body with 400', async () => {
    const response = await fetch(`${gw.url}/streams/todo/bad/a`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'title=x' })
    expect(response.status).toBe(400)
    expect((await rest(gw.url, 'GET', '/streams/todo/bad/a')).body).toMatchObject({ title: 'kept' })
  })
})

describe('REST auth: the same authenticate and canAccess as subscriptions', () => {
  it('refuses a bad token with 401, from the Authorization header or ?authToken=', async () => {
    expect(await rest(authGw.url, 'GET', '/streams/todo/x', undefined, { authorization: 'Bearer bad' })).toMatchObject({ status: 401, body: { code: 'UNAUTHENTICATED' } })
    expect((await rest(authGw.url, 'GET', '/streams/todo/x?authToken=bad')).status).toBe(401)
  })

  it("applies the stream's canAccess to reads and writes (403), and lets the owner in", async () => {
    const asU1 = { authorization: 'Bearer u1' }
    expect((await rest(authGw.url, 'PUT', '/streams/private/u1/n', { text: 'mine' }, asU1)).status).toBe(201)
    expect((await rest(authGw.url, 'GET', '/streams/private/u1/n', undefined, asU1)).body).toMatchObject({ text: 'mine' })
    expect(await rest(authGw.url, 'PUT', '/streams/private/u2/n', { text: 'theirs' }, asU1)).toMatchObject({ status: 403, body: { code: 'PERMISSION_DENIED' } })
    expect((await rest(authGw.url, 'GET', '/streams/private/u1', undefined, { authorization: 'Bearer u2' })).status).toBe(403)
    expect((await rest(authGw.url, 'GET', '/streams/private/u1')).status).toBe(403)
    expect((await rest(authGw.url, 'GET', '/streams/private/u1?authToken=u1')).status).toBe(200)
    expect((await rest(authGw.url, 'DELETE', '/streams/private/u1/n', undefined, { authorization: 'Bearer u2' })).status).toBe(403)
    expect((await rest(authGw.url, 'GET', '/streams/private/u1/n', undefined, asU1)).body).toMatchObject({ text: 'mine' })
  })

  it('denies when canAccess throws', async () => {
    expect((await rest(authGw.url, 'GET', '/streams/private/boom', undefined, { authorization: 'Bearer boom' })).status).toBe(403)
  })
})
