// The real Motia 0.17 Node server (`@motiadev/core`'s createServer: express, its stream wrapper, its ws socket
// server and its step runner, the code `motia dev` runs) assembled without a project folder: the streams and
// steps are handed over as objects. Our harness, not Motia source; @motiadev/core is a devDependency.
import {
  createServer,
  DefaultCronAdapter,
  DefaultQueueEventAdapter,
  LockedData,
  MemoryStateAdapter,
  MemoryStreamAdapter,
  NoPrinter,
} from '@motiadev/core'

// LockedData insists on a Redis client for its hidden log and trace streams: unknown commands resolve to null.
const kv = new Map()
const fakeRedis = new Proxy(
  {
    isOpen: true,
    async get(k) { return kv.get(k) ?? null },
    async set(k, v) { kv.set(k, v); return 'OK' },
    async scan() { return { cursor: '0', keys: [] } },
    async publish() { return 0 },
  },
  { get: (target, name) => (name in target ? target[name] : async () => null) },
)

// Motia's memory storage with one state per stream, shared by every adapter Motia creates for it (as in `motia dev`).
const shared = {}
const memoryStreams = {
  createStream(name) {
    const adapter = new MemoryStreamAdapter(name)
    adapter.state = shared[name] ??= {}
    return adapter
  },
}

/**
 * A Motia server with these streams (`{name, baseConfig?}`; the default storage is Motia's memory) and steps
 * (`{filePath, config}`); `motia.server.listen(...)` starts it.
 */
export function motiaApp({ streams, steps = [] }) {
  const lockedData = new LockedData(process.cwd(), memoryStreams, new NoPrinter(), fakeRedis)
  for (const { name, baseConfig = { storageType: 'default' } } of streams) {
    lockedData.createStream({ filePath: `${name}.stream.ts`, config: { name, schema: null, baseConfig } }, { disableTypeCreation: true })
  }
  for (const step of steps) {
    if (!lockedData.createStep({ version: '1', ...step }, { disableTypeCreation: true })) throw new Error(`Motia refused the step ${step.filePath}`)
  }
  const motia = createServer(
    lockedData,
    new MemoryStateAdapter(),
    { isVerbose: false },
    { eventAdapter: new DefaultQueueEventAdapter(), cronAdapter: new DefaultCronAdapter() },
  )
  return { motia, lockedData }
}
