// A Motia API step that does what a backend's steps do with streams: `context.streams.<name>` calls, here
// a list of them in the request body (`{calls: [{stream, op, groupId, id?, data?, event?}]}`, run in order),
// so one step run (one process of Motia's step runner) covers a scenario. Answers each call's result, or
// the first failure's message with status 500.
export const config = {
  type: 'api',
  name: 'StreamsApi',
  description: 'context.streams.<stream>.<op>, in order',
  path: '/streams-api',
  method: 'POST',
  emits: [],
  flows: ['streams'],
}

const run = (streams, { stream, op, groupId, id, data, event }) => {
  const target = streams[stream]
  switch (op) {
    case 'set':
      return target.set(groupId, id, data)
    case 'get':
      return target.get(groupId, id)
    case 'getGroup':
      return target.getGroup(groupId)
    case 'delete':
      return target.delete(groupId, id)
    case 'send':
      return target.send(id === undefined ? { groupId } : { groupId, id }, event).then(() => 'sent')
    default:
      throw new Error(`unknown op ${op}`)
  }
}

export const handler = async (req, { streams }) => {
  const results = []
  for (const call of req.body.calls) {
    try {
      results.push(await run(streams, call))
    } catch (error) {
      return { status: 500, body: { results, error: String(error?.message ?? error) } }
    }
  }
  return { status: 200, body: { results } }
}
