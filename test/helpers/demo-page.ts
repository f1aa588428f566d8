/** Reading what the demo page (examples/demo/page.tsx) renders. */
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
