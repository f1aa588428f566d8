import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { originNs } from './clock.ts'
import type { FromLoadgen, Job, ToLoadgen } from './jobs.ts'

const LOADGEN = fileURLToPath(new URL('../loadgen.ts', import.meta.url))

type MarkName = Extract<FromLoadgen, { type: 'mark' }>['name']

/**
 * A load-generator process (bench/loadgen.ts, forked with tsx) running one job. Marks it sends are handed
 * to `onMark`; the job's result (or error) resolves `result`. The process is killed if it outlives `timeoutMs`.
 */
export class LoadgenProcess<R> {
  readonly child: ChildProcess
  readonly result: Promise<R>

  constructor(job: Job, onMark: (name: MarkName, loadgen: LoadgenProcess<R>) => void | Promise<void>, timeoutMs = 300_000) {
    this.child = fork(LOADGEN, [], {
      // BENCH_LOADGEN_PROF=<dir> profiles the load generators too (to check they are not the bottleneck).
      execArgv: ['--import', 'tsx', ...(process.env.BENCH_LOADGEN_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_LOADGEN_PROF}`] : [])],
      env: { ...process.env, BENCH_ORIGIN_NS: originNs() },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    const child = this.child
    this.result = new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`load generator did not finish within ${timeoutMs} ms`))
      }, timeoutMs)
      child.on('message', (message: FromLoadgen) => {
        if (message.type === 'mark') {
          Promise.resolve(onMark(message.name, this)).catch((error) => {
            child.kill('SIGKILL')
            reject(error)
          })
        } else if (message.type === 'result') {
          clearTimeout(timer)
          resolve(message.result as R)
        } else {
          clearTimeout(timer)
          reject(new Error(`load generator failed: ${message.message}`))
        }
      })
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`load generator exited (code ${code}, signal ${signal}) without a result`))
      })
    })
    this.result.catch(() => {})
    this.send({ type: 'run', job })
  }

  get pid(): number {
    return this.child.pid!
  }

  send(message: ToLoadgen) {
    if (this.child.connected) this.child.send(message)
  }
}
