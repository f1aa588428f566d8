import { readdir, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Hooks } from '../core/auth.ts'
import type { StreamConfig } from '../core/stream-config.ts'
import { StartupError } from './startup-errors.ts'

const STREAM_FILE = /\.stream\.(ts|js|mjs)$/
const TYPESCRIPT = /\.[cm]?tsx?$/

async function* streamFiles(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* streamFiles(path)
    else if (STREAM_FILE.test(entry.name)) yield path
  }
}

const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** Where in `file` the error points (`:line:column`), from esbuild's message or the stack, when they say. */
function locationIn(file: string, error: Error): string {
  const at = new RegExp(`(?:${literally(file)}|${literally(pathToFileURL(file).href)}):(\\d+(?::\\d+)?)`)
  const match = at.exec(`${error.message}\n${error.stack ?? ''}`)
  return match ? `:${match[1]}` : ''
}

/** The one line that says what went wrong: esbuild's `ERROR:` line (tsx), else the first line of the message. */
function reasonOf(error: Error): string {
  const esbuild = /ERROR: (.*)/.exec(error.message)?.[1]
  const first = esbuild ?? error.message.split('\n').find((line) => line.trim() !== '') ?? String(error)
  return `${error.name && !first.startsWith(error.name) ? `${error.name}: ` : ''}${first.trim()}`
}

/**
 * Imports a stream or config file. Only TypeScript goes through tsx (loaded on first use, so a gateway of
 * JavaScript files never loads it); the file's own imports resolve from where it is (its own `zod`).
 */
async function importModule(file: string, what: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(file).href
  try {
    if (!TYPESCRIPT.test(file)) return await import(url)
    const { tsImport } = await import('tsx/esm/api')
    return await tsImport(url, import.meta.url)
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error))
    throw new StartupError(`${what} ${file}${locationIn(file, failure)} does not load: ${reasonOf(failure)}`)
  }
}

async function folder(dir: string): Promise<string> {
  const path = resolve(dir)
  const found = await stat(path).catch(() => undefined)
  if (!found) throw new StartupError(`--streams ${path}: no such folder`)
  if (!found.isDirectory()) throw new StartupError(`--streams ${path}: not a folder`)
  return path
}

/** Every `*.stream.ts|js|mjs` below each folder that exports a Motia `StreamConfig` as `config`. */
export async function loadStreams(dirs: string[]): Promise<StreamConfig[]> {
  const configs: StreamConfig[] = []
  for (const dir of dirs) {
    for await (const file of streamFiles(await folder(dir))) {
      const { config } = await importModule(file, 'stream file')
      if (typeof config !== 'object' || config === null) throw new StartupError(`stream file ${file} does not export a stream \`config\``)
      configs.push(config as StreamConfig)
    }
  }
  return configs
}

/** The hooks of a config module: its default export, or named exports of the same names. */
export async function loadHooks(file: string): Promise<Hooks> {
  const path = resolve(file)
  if (!(await stat(path).catch(() => undefined))?.isFile()) throw new StartupError(`--config ${path}: no such file`)
  const module = await importModule(path, 'config file')
  const hooks = { ...module, ...((module.default as object | undefined) ?? {}) } as Record<string, unknown>
  if (hooks.authenticate !== undefined && typeof hooks.authenticate !== 'function') throw new StartupError(`config file ${path}: authenticate must be a function`)
  return { authenticate: hooks.authenticate as Hooks['authenticate'] }
}
