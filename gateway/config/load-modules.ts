import { readdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { tsImport } from 'tsx/esm/api'
import type { Hooks } from '../core/auth.ts'
import type { StreamConfig } from '../core/stream-config.ts'

const STREAM_FILE = /\.stream\.(ts|js|mjs)$/

async function* streamFiles(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* streamFiles(path)
    else if (STREAM_FILE.test(entry.name)) yield path
  }
}

/** TypeScript and JavaScript alike, relative to the file that imports them (for its own `zod`). */
const importModule = (path: string) => tsImport(pathToFileURL(resolve(path)).href, import.meta.url)

/** Every `*.stream.ts|js|mjs` below each folder that exports a Motia `StreamConfig` as `config`. */
export async function loadStreams(dirs: string[]): Promise<StreamConfig[]> {
  const configs: StreamConfig[] = []
  for (const dir of dirs) {
    for await (const file of streamFiles(resolve(dir))) {
      const module = await importModule(file)
      if (!module.config) throw new Error(`${file} does not export a stream \`config\``)
      configs.push(module.config)
    }
  }
  return configs
}

/** The hooks of a config module: its default export, or named exports of the same names. */
export async function loadHooks(file: string): Promise<Hooks> {
  const module = await importModule(file)
  const hooks = { ...module, ...(module.default ?? {}) }
  if (hooks.authenticate !== undefined && typeof hooks.authenticate !== 'function') throw new Error(`${file}: authenticate must be a function`)
  return { authenticate: hooks.authenticate }
}
