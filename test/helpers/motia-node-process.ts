import { type ChildProcess, spawn } from 'node:child_process'

const SCRIPT = new URL('./motia-node-child.ts', import.meta.url).pathname

/** Motia's Node client following one group from its own process (see motia-node-child.ts). */
export function motiaNodeFollower(wsUrl: string, streamName: string, groupId: string) {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', SCRIPT, wsUrl, streamName, groupId], { stdio: ['ignore', 'pipe', 'pipe'] })
  const states: unknown[][] = []
  let buffer = ''
  child.stdout!.on('data', (chunk) => {
    buffer += chunk
    let end: number
    while ((end = buffer.indexOf('\n')) >= 0) {
      states.push(JSON.parse(buffer.slice(0, end)))
      buffer = buffer.slice(end + 1)
    }
  })
  return {
    states,
    get state() {
      return states.at(-1)
    },
    close: () => child.kill('SIGKILL'),
  }
}
