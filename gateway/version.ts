import { readFileSync } from 'node:fs'

/** The package's version, from its package.json (one folder up from gateway/ and from dist/ alike). */
export const packageVersion = (): string => JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version
