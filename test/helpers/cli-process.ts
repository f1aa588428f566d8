import { type ChildProcess, spawn } from 'node:child_process'
import { until } from './gateway.ts'

export const BIN = new URL('../../bin/streamgate.mjs', import.meta.url).pathname

const running = new Set<ChildProcess>()

/** Kills every command `runCli` started that is still running (for afterEach). */
export function killCliProcesses() {
  for (const child of running) child.kill('SIGKILL')
  running.clear()
}

/** Runs the real `streamgate` binary, recording what it prints. */
export function runCli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => (stdout += d))
  child.stderr!.on('data', (d) => (stderr += d))
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child)
      resolve(code)
    }),
  )
  return { child, exited, stdout: () => stdout, stderr: () => stderr, output: () => stdout + stderr }
}

/** Starts a gateway with the real binary and resolves with the URL it prints. */
export async function launch(args: string[], env: Record<string, string> = {}) {
  const run = runCli(args, env)
  const url = await until(() => {
    if (run.child.exitCode !== null) throw new Error(`streamgate exited: ${run.output()}`)
    return /streamgate listening on (http:\/\/[^ ]+)/.exec(run.output())?.[1]
  }, 'the listening line')
  return { ...run, url }
}
