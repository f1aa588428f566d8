// The demo page: the unmodified @motiadev/stream-client-react against streamgate. Bundled by demo-routes.ts.
// With ?transport=websocket|sse|connect it runs on @streamgate/client/react instead: the same hooks, and the
// provider's one `transport` prop picks the wire (Motia's provider has no such prop).
import * as motia from '@motiadev/stream-client-react'
import { useState } from 'react'
import { createRoot } from 'react-dom/client'
import { connectTransport } from '../../clients/typescript/src/connect.ts'
import * as streamgate from '../../clients/typescript/src/react.ts'

const choice = new URLSearchParams(location.search).get('transport')
const transport = choice === 'connect' ? connectTransport() : choice === 'sse' || choice === 'websocket' ? choice : undefined
const { MotiaStreamProvider, useStreamGroup, useStreamItem } = (transport ? streamgate : motia) as typeof streamgate

type Message = { id: string; message: string }
type Todo = { id: string; title: string; done: boolean }
type MotiaResult = Message & { __motia: { streamName: string; groupId: string; id: string } }

function Chat() {
  const [traceId, setTraceId] = useState('')
  const [error, setError] = useState('')
  const { data } = useStreamItem<Message>({ streamName: 'openai', groupId: traceId, id: 'message' })

  const submit = async (event: { preventDefault(): void; currentTarget: HTMLFormElement }) => {
    event.preventDefault()
    const message = String(new FormData(event.currentTarget).get('message') ?? '')
    setError('')
    const response = await fetch('/open-ai', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message }),
    })
    if (!response.ok) return setError(`POST /open-ai: HTTP ${response.status}`)
    const result = (await response.json()) as MotiaResult
    setTraceId(result.__motia.groupId)
  }

  return (
    <section>
      <h2>Ask the (fake) model</h2>
      <form data-testid="prompt-form" onSubmit={submit}>
        <input data-testid="prompt" name="message" type="text" placeholder="Say something" required />{' '}
        <button data-testid="send" type="submit">Send</button>
      </form>
      {error && <p data-testid="error">{error}</p>}
      <p>
        Trace: <code data-testid="trace-id">{traceId}</code>
      </p>
      <output data-testid="answer">{data?.message ?? ''}</output>
    </section>
  )
}

function Todos() {
  const { data } = useStreamGroup<Todo>({ streamName: 'todo', groupId: 'inbox' })
  return (
    <section>
      <h2>
        Todo inbox (<span data-testid="todo-count">{data.length}</span>)
      </h2>
      <p>
        Add one: <code>{`curl -X PUT ${location.origin}/streams/todo/inbox/t1 -H 'content-type: application/json' -d '{"title":"hi"}'`}</code>
      </p>
      <ul data-testid="todo-list">
        {data.map((todo) => (
          <li key={todo.id} data-testid="todo-item" data-id={todo.id} data-done={String(todo.done)} className={todo.done ? 'done' : ''}>
            {todo.title}
          </li>
        ))}
      </ul>
    </section>
  )
}

const address = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`
const root = document.getElementById('root')
if (!root) throw new Error('missing #root')
createRoot(root).render(
  <MotiaStreamProvider address={address} transport={transport}>
    <h1>streamgate demo</h1>
    <p>
      Client: <code data-testid="client">{transport ? `@streamgate/client/react over ${choice}` : '@motiadev/stream-client-react'}</code>
    </p>
    <Chat />
    <Todos />
  </MotiaStreamProvider>,
)
