// A Motia 0.17 app whose streams are kept in streamgate: each of STREAMS (`todo,private`) has
// `baseConfig: { storageType: 'custom', factory: streamgateStorage(name, {address, token}) }`, and the API step
// steps/streams-api.step.js runs `context.streams.<name>` calls in Motia's own step runner (a child process
// that calls back into this one). Run with `node --import tsx` (it imports the client's TypeScript source).
//
//   PORT=3112 STREAMGATE_URL=http://127.0.0.1:3000 STREAMGATE_TOKEN=alice STREAMS=todo,private node --import tsx ...
import { fileURLToPath } from 'node:url'
import { streamgateStorage } from '../../clients/typescript/src/motia.ts'
import { motiaApp } from './motia-app.mjs'
import { config as stepConfig } from './steps/streams-api.step.js'

const PORT = Number(process.env.PORT || 3112)
const STREAMS = (process.env.STREAMS || 'todo,private').split(',')
const options = { address: process.env.STREAMGATE_URL, token: () => process.env.STREAMGATE_TOKEN }
const { motia } = motiaApp({
  streams: STREAMS.map((name) => ({ name, baseConfig: { storageType: 'custom', factory: streamgateStorage(name, options) } })),
  steps: [{ filePath: fileURLToPath(new URL('steps/streams-api.step.js', import.meta.url)), config: stepConfig }],
})
motia.server.listen(PORT, () => console.log(`motia app with streamgate storage on http://127.0.0.1:${PORT}`))
