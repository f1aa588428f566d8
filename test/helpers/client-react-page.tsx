// A page for test/client-browser-hooks.test.ts: @streamgate/client/react's hooks under StrictMode, in a
// tree that re-renders every 20 ms with inline props (protocols, auth, setData, listeners), so that any
// re-subscription or reconnect shows in the gateway's counts.
// ?transport=websocket|sse|connect&group=<chat group>&user=<token, and the private group it may follow>.
import { StrictMode, useEffect, useState } from 'react'
import { createRoot } from 'react-dom/client'
import { connectTransport } from '../../clients/typescript/src/connect.ts'
import {
  MotiaStreamProvider,
  type StreamError,
  useMotiaStream,
  useStreamEventHandler,
  useStreamGroup,
  useStreamItem,
  useStreamStatus,
} from '../../clients/typescript/src/react.ts'

type Row = { id: string; n: number; label?: string }
const params = new URLSearchParams(location.search)
const choice = params.get('transport') ?? 'websocket'
const group = params.get('group') ?? 'board'
const user = params.get('user') ?? 'alice'
const transport = choice === 'connect' ? connectTransport() : (choice as 'websocket' | 'sse')
const address = `ws://${location.host}`
const testWindow = window as unknown as { __stream?: unknown; __errors: StreamError[]; __setDataCalls: number }
testWindow.__errors = []
testWindow.__setDataCalls = 0

function Board() {
  // An inline setData that re-renders the parent: Motia 0.17 re-subscribes on every such render.
  const [calls, setCalls] = useState(0)
  const { data, versionOf } = useStreamGroup<Row>({
    streamName: 'chat',
    groupId: group,
    sortKey: 'n',
    setData: () => {
      testWindow.__setDataCalls++
      setCalls((c) => c + 1)
    },
  })
  return (
    <ol data-testid="board" data-calls={calls}>
      {data.map((row) => (
        <li key={row.id} data-id={row.id} data-version={versionOf(row.id)}>
          {row.n}
        </li>
      ))}
    </ol>
  )
}

function Item() {
  const { data, version } = useStreamItem<Row>({ streamName: 'chat', groupId: group, id: 'pinned' })
  return <p data-testid="item" data-version={version}>{data === undefined ? 'loading' : data === null ? 'missing' : `n=${data.n}`}</p>
}

function Pings() {
  // The listener closes over `label`; with Motia's deps ([]) a stale one would keep the first label.
  const [label, setLabel] = useState('before')
  const [pings, setPings] = useState<string[]>([])
  const { event } = useStreamGroup<Row>({ streamName: 'chat', groupId: group })
  useStreamEventHandler({ event, type: 'ping', listener: (data: { n: number }) => setPings((p) => [...p, `${label}:${data.n}`]) }, [])
  return (
    <div>
      <button type="button" data-testid="relabel" onClick={() => setLabel('after')}>
        relabel
      </button>
      <p data-testid="pings">{pings.join(',')}</p>
    </div>
  )
}

function Refused() {
  // Refusals arrive as the subscription's `error` event, observable through the hooks from the start.
  const [errors, setErrors] = useState<string[]>([])
  const mine = useStreamGroup<Row>({ streamName: 'private', groupId: user })
  const theirs = useStreamGroup<Row>({ streamName: 'private', groupId: `${user}-other` })
  useStreamEventHandler({ event: theirs.event, type: 'error', listener: (data: { code: string }) => setErrors((e) => [...e, data.code]) }, [])
  return (
    <p data-testid="private" data-mine={mine.data.length}>
      {errors.join(',')}
    </p>
  )
}

function Status() {
  const status = useStreamStatus()
  const { stream } = useMotiaStream()
  testWindow.__stream = stream
  return <p data-testid="status">{status}</p>
}

function App() {
  const [tick, setTick] = useState(0)
  useEffect(() => {
    const timer = setInterval(() => setTick((n) => n + 1), 20)
    return () => clearInterval(timer)
  }, [])
  return (
    <StrictMode>
      <MotiaStreamProvider
        address={address}
        transport={transport}
        protocols={['streamgate-test']}
        auth={() => user}
        onError={(error) => testWindow.__errors.push(error)}
        options={{ backoff: { initialMs: 50, maxMs: 500 } }}
      >
        <p data-testid="tick">{tick}</p>
        <Status />
        <Board />
        <Item />
        <Pings />
        <Refused />
      </MotiaStreamProvider>
    </StrictMode>
  )
}

const root = document.getElementById('root')
if (!root) throw new Error('missing #root')
createRoot(root).render(<App />)
