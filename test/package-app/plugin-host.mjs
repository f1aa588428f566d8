// A fastify application of its own that mounts the gateway under /live with the package's plugin.
import Fastify from 'fastify'
import { loadStreams, streamgatePlugin } from 'streamgate'

const app = Fastify()
app.get('/hello', async () => ({ hello: 'from the host' }))
await app.register(streamgatePlugin, { prefix: '/live', streams: await loadStreams(['streams']) })
app.post('/notes/:id', async (request) => app.streamgate.streams.notes.set('board', request.params.id, request.body))
const url = await app.listen({ port: 0, host: '127.0.0.1' })
console.log(`host listening on ${url}`)
process.once('SIGTERM', async () => {
  await app.close()
  process.exit(0)
})
