/** Driving and reading the demo page (examples/demo/page.tsx). */
import { expect } from 'vitest'
import { rest } from './gateway.ts'

export type Todo = { id: string; title: string; done: boolean }

// Evaluated in the page by playwright: each must be self-contained.
export const renderedTodos = () =>
  Array.from(document.querySelectorAll('[data-testid="todo-item"]')).map((li) => ({
    id: li.getAttribute('data-id'),
    title: li.textContent,
    done: li.getAttribute('data-done') === 'true',
  }))
export const renderedTodosById = () =>
  Array.from(document.querySelectorAll('[data-testid="todo-item"]'))
    .map((li) => ({ id: li.getAttribute('data-id') ?? '', title: li.textContent, done: li.getAttribute('data-done') === 'true' }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
export const renderedCount = () => document.querySelector('[data-testid="todo-count"]')?.textContent
export const renderedAnswer = () => document.querySelector('[data-testid="answer"]')?.textContent
export const renderedTraceId = () => document.querySelector('[data-testid="trace-id"]')?.textContent

export const byId = (todos: Todo[]) => [...todos].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
export const fields = ({ id, title, done }: Todo): Todo => ({ id, title, done })

/** REST writes to the demo's `todo/inbox`, keeping the model of what the group must hold. */
export function todoWriter(url: string) {
  const model = new Map<string, Todo>()
  return {
    expected: () => byId([...model.values()]),
    async put(id: string, body: { title: string; done?: boolean }) {
      const existed = model.has(id)
      model.set(id, { id, title: body.title, done: body.done ?? false })
      expect((await rest(url, 'PUT', `/streams/todo/inbox/${id}`, body)).status, `PUT ${id}`).toBe(existed ? 200 : 201)
    },
    async del(id: string) {
      model.delete(id)
      expect((await rest(url, 'DELETE', `/streams/todo/inbox/${id}`)).status, `DELETE ${id}`).toBe(200)
    },
  }
}

/**
 * The scenario every demo-page test runs, whichever client renders it: bursts of concurrent writes, then
 * back-to-back writes to the same items (many within one millisecond). `settled(what)` waits until the page
 * shows `writer.expected()`.
 */
export async function todoBursts(writer: ReturnType<typeof todoWriter>, settled: (what: string) => Promise<unknown>) {
  const { put, del } = writer
  await put('t1', { title: 'hi' })
  await settled('t1 appears')
  await Promise.all(['a', 'b', 'c', 'd', 'e'].map((id) => put(id, { title: `todo ${id}` })))
  await settled('five concurrent creates appear')
  await Promise.all([
    put('a', { title: 'todo a', done: true }),
    put('b', { title: 'todo b (edited)' }),
    del('c'),
    del('t1'),
    put('f', { title: 'todo f' }),
    put('e', { title: 'todo e', done: true }),
  ])
  await settled('updates, deletes and a create in one burst')
  await Promise.all([put('x', { title: 'x v1' }), put('y', { title: 'y v1' })])
  await Promise.all([put('x', { title: 'x v2' }), put('y', { title: 'y v2', done: true })])
  await del('x')
  await put('x', { title: 'x v3', done: true })
  await put('d', { title: 'todo d (last edit)' })
  await del('d')
  await del('f')
  await settled('same-item create/update/delete/re-create')
}
