// Both packages as a user gets them: packed, installed into an empty folder from their tarballs and the npm
// registry (nothing from this checkout), then `npx streamgate`, a gateway embedded through the library
// entry, the fastify plugin in a host app of its own, its types, and a React app bundled with esbuild running
// @streamgate/client in Chromium.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium, waitForRendered } from './helpers/browser.ts'
import { rest, until } from './helpers/gateway.ts'

const run = promisify(execFile)
const ROOT = new URL('../', import.meta.url).pathname
const CLIENT = join(ROOT, 'clients/typescript')
const APP_FIXTURE = join(ROOT, 'test/package-app')
const version = (path: string) => JSON.parse(readFileSync(join(path, 'package.json'), 'utf8')).version as string
// The versions this repository pins, so the app installs what the tests of the repository ran with.
const pinned = (name: string) => `${name}@${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).devDependencies[name]}`

let dir: string
let app: string
const children: ChildProcess[] = []

/** Spawns `command` in the app folder and resolves once its output matches `ready`. */
async function start(command: string, args: string[], ready: RegExp) {
  const child = spawn(command, args, { cwd: app, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } })
  children.push(child)
  let output = ''
  child.stdout!.on('data', (d) => (output += d))
  child.stderr!.on('data', (d) => (output += d))
  const match = await until(() => {
    if (child.exitCode !== null) throw new Error(`${command} ${args.join(' ')} exited ${child.exitCode}: ${output}`)
    return ready.exec(output)
  }, `${command} ${args.join(' ')} to be ready`, 30_000)
  return { child, match, output: () => output }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

beforeAll(async () => {
  for (const built of [join(ROOT, 'dist/gateway/index.js'), join(CLIENT, 'dist/src/index.js')]) {
    if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build && npm run client:build\` (test/run.sh does)`)
  }
  dir = mkdtempSync(join(tmpdir(), 'streamgate-packages-'))
  app = join(dir, 'app')
  // dist/ is already built (prepack would rebuild it under the feet of other tests).
  const pack = async (cwd: string) => {
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd })
    return join(dir, JSON.parse(stdout)[0].filename as string)
  }
  const [gatewayTarball, clientTarball] = [await pack(ROOT), await pack(CLIENT)]
  cpSync(APP_FIXTURE, app, { recursive: true })
  await run(
    'npm',
    ['install', '--no-audit', '--no-fund', gatewayTarball, clientTarball, pinned('react'), pinned('react-dom'), pinned('esbuild'), pinned('typescript'), pinned('@types/node')],
    { cwd: app, maxBuffer: 16 * 1024 * 1024 },
  )
}, 240_000)

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('the packed packages, installed from their tarballs', () => {
  it('ship compiled JavaScript, declarations and the LICENSE, and no tests, benchmarks or TypeScript sources', async () => {
    const installed = join(app, 'node_modules/streamgate')
    const files = (await run('find', ['.', '-type', 'f'], { cwd: installed })).stdout.split('\n').filter(Boolean)
    expect(files).toEqual(expect.arrayContaining(['./LICENSE', './README.md', './package.json', './bin/streamgate.mjs', './dist/gateway/index.js', './dist/gateway/index.d.ts', './dist/gateway/cli.js', './dist/gateway/inspector/dist/index.html']))
    expect(files.filter((f) => /^\.\/(test|bench|examples|gateway|clients)\//.test(f) || (/\.ts$/.test(f) && !f.endsWith('.d.ts')))).toEqual([])
    expect(existsSync(join(app, 'node_modules/@streamgate/client/dist/src/react.js'))).toBe(true)
  })

  it('`npx streamgate --version` and `--help` answer from the compiled CLI', async () => {
    expect((await run('npx', ['streamgate', '--version'], { cwd: app })).stdout.trim()).toBe(version(ROOT))
    expect((await run('npx', ['streamgate', '-h'], { cwd: app })).stdout).toMatch(/^Usage: streamgate/)
  })

  it('compiles against the declarations of both packages', async () => {
    const failure = await run('npx', ['tsc', '-p', '.'], { cwd: app }).then(() => undefined, (error) => `${error.stdout}${error.stderr}`)
    expect(failure).toBeUndefined()
  })

  it("SIGTERM to `npx streamgate` stops the gateway too: no orphan keeps the port", async () => {
    const { child, match } = await start('npx', ['streamgate', '--streams', 'streams', '--port', '0'], /"pid":(\d+).*streamgate listening on (http:\/\/[^ ]+) /)
    const [, pid, url] = match
    expect(Number(pid)).not.toBe(child.pid)
    expect((await fetch(`${url}/healthz`)).status).toBe(200)
    child.kill('SIGTERM')
    await until(() => !alive(Number(pid)), `the gateway (pid ${pid}) to exit after npx did`, 10_000)
    await expect(fetch(`${url}/healthz`)).rejects.toThrow()
  })

  it('mounts in a fastify app of its own with the plugin: the host keeps its routes, @streamgate/client follows under the prefix', async () => {
    const host = await start('node', ['plugin-host.mjs'], /host listening on (http:\/\/\S+)/)
    const url = host.match[1]!
    expect((await rest(url, 'GET', '/hello')).body).toEqual({ hello: 'from the host' })
    const followers = await Promise.all(['sse', 'websocket'].map((transport) => start('node', ['follow.mjs', `${url}/live`, transport], /\[\]/)))
    expect((await rest(url, 'PUT', '/live/streams/notes/board/a', { text: 'through REST' })).status).toBe(201)
    expect((await rest(url, 'POST', '/notes/b', { text: 'through the host' })).status).toBe(200)
    for (const follower of followers) await until(() => follower.output().includes('["through REST","through the host"]'), 'both notes followed')
    // Outside the prefix the gateway is not there, and the host answers as it would.
    expect((await rest(url, 'GET', '/streams/notes/board')).status).toBe(404)
    host.child.kill('SIGTERM')
    expect(await new Promise((resolve) => host.child.once('exit', resolve))).toBe(0)
  })

  describe('a React app bundled with esbuild, on a gateway embedded through the library entry', () => {
    let browser: Browser
    let url: string
    beforeAll(async () => {
      await run('npx', ['esbuild', 'app.jsx', '--bundle', '--format=esm', '--jsx=automatic', '--outfile=dist/app.js', '--log-level=warning'], { cwd: app })
      url = (await start('node', ['server.mjs'], /app listening on (http:\/\/\S+)/)).match[1]!
      browser = await launchChromium()
    }, 60_000)
    afterAll(() => browser?.close())

    it('follows a group over SSE and WebSocket as the host writes and deletes', async () => {
      const page = await browser.newPage()
      await page.goto(url)
      const texts = () => ['sse', 'websocket'].map((id) => [...document.querySelectorAll(`#${id} li`)].map((li) => li.textContent))
      await waitForRendered(page, texts, [[], []], 'the empty group')
      // Through the host's own route (server.streams.notes.set) and through REST.
      expect((await rest(url, 'POST', '/notes/a', { text: 'first' })).status).toBe(200)
      expect((await rest(url, 'PUT', '/streams/notes/board/b', { text: 'second' })).status).toBe(201)
      await waitForRendered(page, texts, [['first', 'second'], ['first', 'second']], 'both notes')
      expect((await rest(url, 'PUT', '/streams/notes/board/c', { text: '' })).status).toBe(400)
      expect((await rest(url, 'DELETE', '/streams/notes/board/a')).status).toBe(200)
      await waitForRendered(page, texts, [['second'], ['second']], 'the delete')
      await page.close()
    })
  })
})
