import { once } from 'node:events'
import { unlinkSync } from 'node:fs'
import { connect, createServer, type Server } from 'node:net'
import { join, relative } from 'node:path'

/**
 * One process per data directory. LMDB itself lets several processes share an environment, and Node has no
 * flock, so the owner listens on a Unix socket in the directory (`<dir>/lock`): the kernel closes it when the
 * process dies, however it dies (`kill -9` included), and the socket file is reachable from any process that
 * sees the directory, containers sharing a volume included. A socket file nobody answers on is what a dead
 * owner left behind: it is removed and taken over. A peer that connects gets the owner's pid.
 */
export class DataDirLock {
  private constructor(
    private readonly server: Server,
    private readonly path: string,
  ) {}

  /** Takes the directory, or throws one line naming it (and the pid of the process that has it). */
  static async acquire(dir: string): Promise<DataDirLock> {
    // Unix socket paths are limited to ~100 bytes: the path relative to the working directory is usually short.
    const path = shorter(join(dir, 'lock'), relative(process.cwd(), join(dir, 'lock')))
    for (let attempt = 0; ; attempt++) {
      const server = createServer((socket) => socket.end(String(process.pid)))
      server.unref()
      try {
        server.listen(path)
        await once(server, 'listening')
        return new DataDirLock(server, path)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt > 0) {
          throw new Error(`cannot lock data directory ${dir}: ${(error as Error).message}`)
        }
      }
      const owner = await ownerOf(path)
      if (owner !== undefined) throw new Error(`data directory ${dir} is in use by another streamgate process (pid ${owner || 'unknown'})`)
      unlinkSync(path)
    }
  }

  async release() {
    this.server.close()
    await once(this.server, 'close')
    try {
      unlinkSync(this.path)
    } catch {
      // already gone
    }
  }
}

const shorter = (a: string, b: string) => (b.length < a.length ? b : a)

/** The pid the owner answers with, '' if it answers without one, undefined when nobody listens. */
function ownerOf(path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    let answer = ''
    const socket = connect(path)
    socket.setEncoding('utf8')
    socket.on('data', (chunk) => (answer += chunk))
    socket.on('end', () => resolve(answer.trim()))
    socket.on('error', () => resolve(undefined))
    socket.setTimeout(2000, () => {
      socket.destroy()
      resolve('')
    })
  })
}
