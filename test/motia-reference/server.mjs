// The Motia reference server for differential tests and benchmarks: the real Motia 0.17 server (motia-app.mjs)
// with Motia's memory storage and a small HTTP control API that drives a backend's `streams.<name>` calls
// inside Motia's own process.
//
//   PORT=3111 STREAMS=todo,chat node test/motia-reference/server.mjs
//
// Control API: POST /__ref/:stream/:group/:id (JSON body -> set), GET /__ref/:stream/:group/:id,
// DELETE /__ref/:stream/:group/:id, GET /__ref/:stream/:group (getGroup),
// POST /__ref-send/:stream/:group[?id=] with {type, data} (custom event).
// It keeps Motia's bugs (motia-protocol.md): a non-JSON frame kills it, `delete` frames carry `data: null`.
import { motiaApp } from './motia-app.mjs'

const PORT = Number(process.env.PORT || 3111)
const STREAMS = (process.env.STREAMS || 'todo,chat').split(',')
const { motia, lockedData } = motiaApp({ streams: STREAMS.map((name) => ({ name })) })

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
