// Runs @motiadev/stream-client-node in a process of its own and prints its group state as one JSON line per
// change: the client has no 'error' listener on its socket, so every refused reconnect while the gateway is
// down is an uncaught exception, which would kill a test runner. Here it is logged and the client goes on.
//   node --import tsx test/helpers/motia-node-child.ts <ws url> <stream> <group>
import { Stream } from '@motiadev/stream-client-node'

const [url, streamName, groupId] = process.argv.slice(2) as [string, string, string]
process.on('uncaughtException', (error) => process.stderr.write(`client socket error: ${error.message}\n`))
const stream = new Stream(url)
const subscription = stream.subscribeGroup(streamName, groupId)
subscription.addChangeListener((state) => process.stdout.write(`${JSON.stringify(state)}\n`))
