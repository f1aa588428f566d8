/**
 * `@streamgate/client/react`: the provider and hooks of `@motiadev/stream-client-react`, on any transport.
 * Moving an app from Motia's package: change the import, and add `transport="sse"` (or a Connect transport)
 * to the provider if you want another wire.
 */
import {
  createContext,
  createElement,
  type DependencyList,
  type ReactNode,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
} from 'react'
import type { TokenResult } from './lifeline.ts'
import { Stream, type StreamOptions } from './stream.ts'
import type { StreamGroupSubscription, StreamItemSubscription, StreamSubscription } from './subscription.ts'
import type { Transport } from './transport.ts'
import type { CustomEventListener, StreamError, StreamStatus } from './types.ts'

export { Stream, type StreamOptions } from './stream.ts'
export { StreamSubscription, StreamItemSubscription, StreamGroupSubscription } from './subscription.ts'
export type { Transport } from './transport.ts'
export type { StreamError, StreamStatus } from './types.ts'

type MotiaStreamContextType = { stream: Stream }

/** Outside a provider the hooks do nothing (as Motia's). */
export const MotiaStreamContext = createContext<MotiaStreamContextType>({ stream: null as never })

export interface MotiaStreamProviderProps {
  /** The gateway: `ws://host:3000` (any transport: SSE and Connect use the same host over http). */
  address: string
  /** WebSocket subprotocols, as Motia's prop. Compared by value: an inline array does not reconnect. */
  protocols?: string | string[]
  /** `websocket` (default), `sse`, or `connectTransport()` from `@streamgate/client/connect`. Compared by name. */
  transport?: 'websocket' | 'sse' | Transport
  /** A token or token provider, read again on every reconnect (the latest prop is used; changing it does not reconnect). */
  auth?: string | null | (() => TokenResult | Promise<TokenResult>)
  /** Connection errors, refusals, throwing listeners (the latest prop is used). */
  onError?: (error: StreamError) => void
  /** Everything else a `Stream` takes (back-off, network monitor, transport options); read when the stream is created. */
  options?: Omit<StreamOptions, 'transport' | 'protocols' | 'auth' | 'onError'>
  children?: ReactNode
}

/**
 * Creates the stream (lazily: nothing connects before the first subscription) and closes it on unmount.
 * The stream is re-created only when `address`, the transport's name or the protocols' values change; the
 * `auth` and `onError` props are read through refs. Children render at once with a usable stream.
 */
export function MotiaStreamProvider({ address, protocols, transport = 'websocket', auth, onError, options, children }: MotiaStreamProviderProps) {
  const latest = useRef({ auth, onError, transport, options, protocols })
  latest.current = { auth, onError, transport, options, protocols }
  const key = JSON.stringify([address, typeof transport === 'string' ? transport : transport.name, protocols === undefined ? null : [protocols].flat()])

  const create = useCallback(() => {
    const { transport: chosen, options: rest, protocols: offered } = latest.current
    return new Stream(address, {
      ...rest,
      transport: chosen,
      protocols: offered,
      auth: async () => {
        const current = latest.current.auth
        return typeof current === 'function' ? current() : current
      },
      onError: (error) => latest.current.onError?.(error),
    })
    // `key` covers what the stream is built from.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key])

  const [state, setState] = useState(() => ({ key, stream: create() }))
  useEffect(() => {
    let stream = state.stream
    // A new address or transport, or StrictMode's second mount after the first one closed the stream.
    if (state.key !== key || stream.closed) {
      stream = create()
      setState({ key, stream })
    }
    return () => stream.close()
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key])

  const value = useMemo(() => ({ stream: state.stream }), [state.stream])
  return createElement(MotiaStreamContext.Provider, { value }, children)
}

/** `{ stream }` of the nearest provider. */
export const useMotiaStream = (): MotiaStreamContextType => useContext(MotiaStreamContext)

export type StreamItemArgs = {
  streamName: string
  groupId: string
  id?: string
}

/**
 * One item: `data` is undefined until the gateway answered, then the item or null (missing, deleted).
 * `version` is the version of the `data` shown (for `If-Match`), undefined with no item or from Motia's servers.
 * `event` is the subscription (React state, so `useStreamEventHandler` binds as soon as it exists).
 */
export function useStreamItem<TData = unknown>(args?: StreamItemArgs) {
  const { stream } = useMotiaStream()
  // Data and version in one state, so a render never pairs an item with another change's version.
  const [shown, setShown] = useState<{ data: TData | null | undefined; version?: number }>({ data: undefined })
  const [event, setEvent] = useState<StreamItemSubscription<TData & { id: string }> | null>(null)
  const streamName = args?.streamName
  const groupId = args?.groupId
  const id = args?.id

  useEffect(() => {
    if (!stream || !streamName || !groupId || !id) return
    const subscription = stream.subscribeItem<TData & { id: string }>(streamName, groupId, id)
    const apply = () => setShown({ data: subscription.getState() as TData | null, version: subscription.version })
    subscription.addChangeListener(apply)
    if (subscription.synced) apply()
    setEvent(subscription)
    return () => {
      subscription.close()
      setShown({ data: undefined })
      setEvent(null)
    }
  }, [stream, streamName, groupId, id])

  return { data: shown.data, version: shown.version, event }
}

export type StreamGroupArgs<TData extends { id: string }> = {
  streamName: string
  groupId: string
  sortKey?: keyof TData
  /** Called with every new array, besides the hook's own state. Not a dependency: an inline callback is fine. */
  setData?: (data: TData[]) => void
}

const noVersions = (_id: string): number | undefined => undefined

/**
 * A group's items (sorted by `sortKey` when given), `versionOf(id)`: the version of each item as shown (for
 * `If-Match`), and the subscription as `event`.
 */
export function useStreamGroup<TData extends { id: string }>(args?: StreamGroupArgs<TData>) {
  const { stream } = useMotiaStream()
  // The items and their versions in one state, so `versionOf` answers for the items this render shows.
  const [shown, setShown] = useState<{ data: TData[]; versionOf: (id: string) => number | undefined }>({ data: [], versionOf: noVersions })
  const [event, setEvent] = useState<StreamGroupSubscription<TData> | null>(null)
  const onData = useRef(args?.setData)
  onData.current = args?.setData
  const streamName = args?.streamName
  const groupId = args?.groupId
  const sortKey = args?.sortKey

  useEffect(() => {
    if (!stream || !streamName || !groupId) return
    const subscription = stream.subscribeGroup<TData>(streamName, groupId, sortKey)
    const apply = (items: TData[]) => {
      const versions = subscription.versionsNow()
      setShown({ data: items, versionOf: (id) => versions.get(id) })
      onData.current?.(items)
    }
    subscription.addChangeListener(apply)
    if (subscription.synced) apply(subscription.getState())
    setEvent(subscription)
    return () => {
      subscription.close()
      setShown({ data: [], versionOf: noVersions })
      setEvent(null)
    }
  }, [stream, streamName, groupId, sortKey])

  return { data: shown.data, versionOf: shown.versionOf, event }
}

/** Any subscription: what `useStreamItem` and `useStreamGroup` return as `event`. */
type EventSubscription = Pick<StreamSubscription, 'onEvent' | 'offEvent'>

type UseStreamEventHandler = {
  event: EventSubscription | null
  type: string
  listener: CustomEventListener
}

/**
 * Calls `listener` with the data of every custom event of `type` on the subscription. The latest
 * `listener` is always the one called; `dependencies` is accepted for compatibility with Motia's hook.
 */
export function useStreamEventHandler({ event, type, listener }: UseStreamEventHandler, _dependencies: DependencyList = []) {
  const latest = useRef(listener)
  latest.current = listener
  useEffect(() => {
    if (!event) return
    const handler: CustomEventListener = (data) => latest.current(data)
    event.onEvent(type, handler)
    return () => event.offEvent(type, handler)
  }, [event, type])
}

/** The connection's status (`open`, `reconnecting`, `offline`, ...), re-rendering when it changes. */
export function useStreamStatus(): StreamStatus {
  const { stream } = useMotiaStream()
  const subscribe = useCallback((onChange: () => void) => (stream ? stream.onStatusChange(onChange) : () => {}), [stream])
  return useSyncExternalStore(subscribe, () => stream?.status ?? 'idle', () => 'idle')
}
