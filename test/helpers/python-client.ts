import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

export const PYTHON = '/usr/bin/python3'
export const SUBSCRIBE_PY = new URL('../../clients/python/subscribe.py', import.meta.url).pathname

/** Fails with what to install when Debian's Python lacks grpcio or protobuf. */
export function assertPythonGrpc() {
  try {
    execFileSync(PYTHON, ['-c', 'import grpc, google.protobuf'], { stdio: 'pipe' })
  } catch {
    throw new Error(`${PYTHON} cannot import grpc and google.protobuf: apt-get install -y python3-grpcio python3-protobuf`)
  }
}

export interface PythonEvent {
  kind: 'sync' | 'create' | 'update' | 'delete' | 'custom'
  stream_name: string
  group_id: string
  id: string
  timestamp: number
  resume_token: string
  sequence: number
  items?: Array<Record<string, unknown>>
  reset?: boolean
  item?: Record<string, unknown>
  type?: string
  data?: unknown
}

/** clients/python/subscribe.py --json, run by Debian's Python; every event it prints, and its stderr. */
export function pythonSubscriber(args: string[]) {
  const child: ChildProcess = spawn(PYTHON, ['-u', '-B', SUBSCRIBE_PY, '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const events: PythonEvent[] = []
  let stderr = ''
  child.stderr!.on('data', (chunk) => (stderr += chunk))
  createInterface({ input: child.stdout! }).on('line', (line) => events.push(JSON.parse(line)))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return {
    events,
    exited,
    get stderr() {
      return stderr
    },
    stop() {
      if (child.exitCode === null) child.kill('SIGTERM')
      return exited
    },
  }
}
