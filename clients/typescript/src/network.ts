export type NetworkChange = 'online' | 'offline' | 'visible' | 'hidden'

/** What the stream needs to know about its environment; the default reads the browser's globals. */
export interface NetworkMonitor {
  isOnline(): boolean
  isVisible(): boolean
  /** Returns the function that stops listening. */
  subscribe(listener: (change: NetworkChange) => void): () => void
}

interface EventTargetLike {
  addEventListener(type: string, listener: () => void): void
  removeEventListener(type: string, listener: () => void): void
}

const target = (value: unknown): EventTargetLike | undefined =>
  typeof (value as EventTargetLike | undefined)?.addEventListener === 'function' ? (value as EventTargetLike) : undefined

/**
 * `navigator.onLine`, the window's `online`/`offline` events and the document's visibility. Where they do
 * not exist (Node), the network is always online and the page always visible.
 */
export const browserNetwork: NetworkMonitor = {
  isOnline: () => (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine !== false,
  isVisible: () => (globalThis as { document?: { visibilityState?: string } }).document?.visibilityState !== 'hidden',
  subscribe(listener) {
    const win = target((globalThis as { window?: unknown }).window)
    const doc = target((globalThis as { document?: unknown }).document)
    const online = () => listener('online')
    const offline = () => listener('offline')
    const visibility = () => listener(browserNetwork.isVisible() ? 'visible' : 'hidden')
    win?.addEventListener('online', online)
    win?.addEventListener('offline', offline)
    doc?.addEventListener('visibilitychange', visibility)
    return () => {
      win?.removeEventListener('online', online)
      win?.removeEventListener('offline', offline)
      doc?.removeEventListener('visibilitychange', visibility)
    }
  },
}
