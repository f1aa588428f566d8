// @streamgate/client in Node, following one group at the address given (over the transport given), one
// line of JSON with the group's texts per change.
import { Stream } from '@streamgate/client'

const [address, transport] = process.argv.slice(2)
const stream = new Stream(address, { transport })
const board = stream.subscribeGroup('notes', 'board')
board.addChangeListener((items) => console.log(JSON.stringify((items ?? []).map((item) => item.text).sort())))
process.once('SIGTERM', () => {
  stream.close()
  process.exit(0)
})
