// The real Motia 0.17 Node stream server (`@motiadev/core`'s createServer: express, its stream wrapper and its
// ws socket server, the code `motia dev` runs) with Motia's in-memory stream storage and a small HTTP control
// API, so tests and benchmarks can drive a backend's `streams.<name>` calls inside Motia's own process.
// Our harness, not Motia source; @motiadev/core is a devDependency.
//
//   PORT=3111 STREAMS=todo,chat node test/motia-reference/server.mjs
//
// Control API: POST /__ref/:stream/:group/:id (JSON body -> set), GET /__ref/:stream/:group/:id,
// DELETE /__ref/:stream/:group/:id, GET /__ref/:stream/:group (getGroup),
// POST /__ref-send/:stream/:group[?id=] with {type, data} (custom event).
// It keeps Motia's bugs (motia-protocol.md): a non-JSON frame kills it, `delete` frames carry `data: null`.
import {
  createServer,
  DefaultCronAdapter,
  DefaultQueueEventAdapter,
  LockedData,
  MemoryStateAdapter,
  MemoryStreamAdapter,
  NoPrinter,
} from '@motiadev/core'

const PORT = Number(process.env.PORT || 3111)
const STREAMS = (process.env.STREAMS || 'todo,chat').split(',')

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

// One state per stream shared by every adapter Motia creates for it, as its memory storage does in `motia dev`.
const shared = {}
const streamManager = {
  createStream(name) {
    const adapter = new MemoryStreamAdapter(name)
    adapter.state = shared[name] ??= {}
    return adapter
  },
}
const lockedData = new LockedData(process.cwd(), streamManager, new NoPrinter(), fakeRedis)
for (const name of STREAMS) {
  lockedData.createStream(
    { filePath: `${name}.stream.ts`, config: { name, schema: null, baseConfig: { storageType: 'default' } } },
    { disableTypeCreation: true },
  )
}

const motia = createServer(
  lockedData,
  new MemoryStateAdapter(),
  { isVerbose: false },
  { eventAdapter: new DefaultQueueEventAdapter(), cronAdapter: new DefaultCronAdapter() },
)

const stream = (name) => {
  const factory = lockedData.getStreams()[name]
  if (!factory) throw new Error(`unknown stream ${name}`)
  return factory()
}
const answer = (work) => async (req, res) => {
  try {
    res.json(await work(req))
  } catch (error) {
    res.status(500).json({ error: String(error?.message ?? error) })
  }
}

motia.app.post('/__ref/:stream/:group/:id', answer((r) => stream(r.params.stream).set(r.params.group, r.params.id, r.body)))
motia.app.get('/__ref/:stream/:group/:id', answer((r) => stream(r.params.stream).get(r.params.group, r.params.id)))
motia.app.delete('/__ref/:stream/:group/:id', answer((r) => stream(r.params.stream).delete(r.params.group, r.params.id)))
motia.app.get('/__ref/:stream/:group', answer((r) => stream(r.params.stream).getGroup(r.params.group)))
motia.app.post('/__ref-send/:stream/:group', answer((r) =>
  stream(r.params.stream).send({ groupId: r.params.group, id: r.query.id }, { type: r.body.type, data: r.body.data })))

motia.server.listen(PORT, () => console.log(`motia reference stream server on ws://127.0.0.1:${PORT} (streams: ${STREAMS.join(',')})`))
