import { readdir, readFile } from 'node:fs/promises'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { etagOf, type StaticAsset } from './static-asset.ts'

/** Where `npm run inspector:build` (run by `npm ci` and `npm install` through `prepare`) writes the page. */
export const INSPECTOR_DIST = fileURLToPath(new URL('./dist', import.meta.url))

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
}

/**
 * The page may load and talk to its own origin only: nothing from the network, no inline code, no framing.
 * `connect-src 'self'` covers the WebSocket of the same origin.
 */
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  // Revalidated on every load: the page names the current script and stylesheet.
  'cache-control': 'no-cache',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

export interface InspectorAssets {
  page: StaticAsset
  /** By file name; the names carry a hash of their content, so they are cached for good. */
  files: Map<string, StaticAsset>
}

async function load(path: string, headers: Record<string, string>): Promise<StaticAsset> {
  const body = await readFile(path)
  const gzip = await readFile(`${path}.gz`).catch(() => undefined)
  return { body, gzip, headers: { ...headers, etag: etagOf(body), ...(gzip ? { vary: 'accept-encoding' } : {}) } }
}

/** Reads the built page into memory; a missing build is one line that says how to make it. */
export async function loadInspectorAssets(dir = INSPECTOR_DIST): Promise<InspectorAssets> {
  let names: string[]
  try {
    names = await readdir(join(dir, 'assets'))
  } catch {
    throw new Error(`the inspector page is not built (${dir} is missing): run \`npm run inspector:build\`, or start with --no-inspector`)
  }
  const page = await load(join(dir, 'index.html'), PAGE_HEADERS)
  const files = new Map<string, StaticAsset>()
  for (const name of names) {
    const type = TYPES[extname(name)]
    if (!type) continue
    files.set(name, await load(join(dir, 'assets', name), {
      'content-type': type,
      'cache-control': 'public, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
    }))
  }
  return { page, files }
}
