// A Motia 0.17 app (the real @motiadev/core server and step runner) whose streams use
// @streamgate/client/motia as their custom storage: its step's `context.streams.<name>` calls land in
// streamgate over Connect, pass streamgate's schema and auth, and reach streamgate's subscribers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rest, startGateway, type TestGateway, until } from './helpers/gateway.ts'
import { type MotiaProcess, startMotiaStreamgateApp } from './helpers/motia-reference.ts'
import { rawClient } from './helpers/raw-ws.ts'

let gateway: TestGateway
let motia: MotiaProcess
beforeAll(async () => {
  gateway = await startGateway({ auth: true })
  motia = await startMotiaStreamgateApp({ streamgateUrl: gateway.url, token: 'alice', streams: ['todo', 'private'] })
}, 60_000)
afterAll(async () => {
  await motia?.close()
  await gateway?.close()
})

type Call = { stream: string; op: string; groupId: string; id?: string; data?: unknown; event?: unknown }

/** One run of the step: `context.streams[stream][op](...)` for each call, in Motia's step runner. */
async function step(...calls: Call[]) {
  const response = await fetch(`${motia.url}/streams-api`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ calls }) })
  return { status: response.status, ...((await response.json()) as { results: unknown[]; error?: string }) }
}

describe('@streamgate/client/motia as a Motia stream storage', () => {
  it("keeps set/get/getGroup/delete in streamgate, with streamgate's schema defaults and Motia's marker", async () => {
    const subscriber = await rawClient(gateway.wsUrl)
    subscriber.join('todo', 'motia')
    await until(() => subscriber.frames.length === 1, 'the sync')

    const todo = { stream: 'todo', groupId: 'motia' }
    const run = await step(
      { ...todo, op: 'set', id: 't1', data: { title: 'from a step' } },
      { ...todo, op: 'set', id: 't1', data: { title: 'again', done: true } },
      { ...todo, op: 'get', id: 't1' },
      { ...todo, op: 'get', id: 'missing' },
      { ...todo, op: 'getGroup' },
      { ...todo, op: 'delete', id: 't1' },
      { ...todo, op: 'delete', id: 't1' },
    )
    expect(run.status, run.error).toBe(200)
    const marker = { __motia: { type: 'state-stream', streamName: 'todo', groupId: 'motia', id: 't1' } }
    const [created, updated, got, missing, group, removed, removedAgain] = run.results
    // Stored by streamgate (its schema's default applied), marked by Motia's stream wrapper for Workbench.
    expect(created).toEqual({ id: 't1', title: 'from a step', done: false, ...marker })
    expect(updated).toEqual({ id: 't1', title: 'again', done: true, ...marker })
    expect(got).toEqual(updated)
    expect(missing).toBeNull()
    expect(group).toEqual([updated])
    expect(removed).toEqual(updated)
    expect(removedAgain).toBeNull()

    expect((await rest(gateway.url, 'GET', '/streams/todo/motia/t1')).status).toBe(404)
    await until(() => subscriber.frames.length === 4, 'create, update, delete')
    expect(subscriber.frames.map((f) => f.event.type)).toEqual(['sync', 'create', 'update', 'delete'])
    expect(subscriber.frames[1]!.event.data).toEqual({ id: 't1', title: 'from a step', done: false })
    expect(subscriber.frames[3]!.event.data).toEqual({ id: 't1', title: 'again', done: true })
    subscriber.close()
  })

  it("sends the steps' custom events through streamgate, to the group and to an item", async () => {
    const group = await rawClient(gateway.wsUrl)
    group.join('todo', 'events')
    const item = await rawClient(gateway.wsUrl)
    item.join('todo', 'events', 'e1')
    await until(() => group.frames.length === 1 && item.frames.length === 1, 'the syncs')

    const run = await step(
      { stream: 'todo', op: 'send', groupId: 'events', event: { type: 'ping', data: { n: 1 } } },
      { stream: 'todo', op: 'send', groupId: 'events', id: 'e1', event: { type: 'typing', data: ['a', 2, null] } },
    )
    expect(run.status, run.error).toBe(200)
    await until(() => group.frames.length === 3 && item.frames.length === 2, 'the events')
    expect(group.frames.slice(1).map((f) => f.event)).toEqual([
      { type: 'event', event: { type: 'ping', data: { n: 1 } } },
      { type: 'event', event: { type: 'typing', data: ['a', 2, null] } },
    ])
    expect(item.frames[1]!.event).toEqual({ type: 'event', event: { type: 'typing', data: ['a', 2, null] } })
    group.close()
    item.close()
  })

  it("passes streamgate's authenticate and canAccess with the storage's token, and streamgate's schema", async () => {
    // The storage's token is "alice": the private group "alice" is hers, "bob" is not.
    const allowed = await step({ stream: 'private', op: 'set', groupId: 'alice', id: 'p1', data: { text: 'mine' } })
    expect(allowed.status, allowed.error).toBe(200)
    expect((await rest(gateway.url, 'GET', '/streams/private/alice/p1', undefined, { authorization: 'Bearer alice' })).body).toEqual({ id: 'p1', text: 'mine' })

    const refused = await step({ stream: 'private', op: 'set', groupId: 'bob', id: 'p1', data: { text: 'not mine' } })
    expect(refused.status).toBe(500)
    expect(refused.error).toMatch(/permission_denied|access/i)
    expect((await rest(gateway.url, 'GET', '/streams/private/bob/p1', undefined, { authorization: 'Bearer bob' })).status).toBe(404)

    const invalid = await step({ stream: 'todo', op: 'set', groupId: 'motia', id: 'bad', data: { title: '' } })
    expect(invalid.status).toBe(500)
    expect(invalid.error).toMatch(/title/)
    expect((await rest(gateway.url, 'GET', '/streams/todo/motia/bad')).status).toBe(404)
  })
})
