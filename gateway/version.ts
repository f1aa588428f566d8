import { existsSync, readFileSync } from 'node:fs'

/** The package's version, from the nearest package.json above this file (the source tree's or dist/'s). */
export function packageVersion(): string {
  for (let dir = new URL('./', import.meta.url); dir.pathname !== '/'; dir = new URL('../', dir)) {
    const manifest = new URL('package.json', dir)
    if (existsSync(manifest)) return JSON.parse(readFileSync(manifest, 'utf8')).version
  }
  throw new Error(`no package.json above ${import.meta.url}`)
}
