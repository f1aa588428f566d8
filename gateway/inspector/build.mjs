// Builds the inspector page from this folder's page/ (and the project's own client, clients/typescript)
// into dist/: index.html naming a content-hashed script and stylesheet, each with a gzipped twin.
// Run by `npm run inspector:build`, and by `npm ci` / `npm install` through `prepare`. `--out DIR` builds
// elsewhere (the tests compare a fresh build with dist/).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

// esbuild is a devDependency: an install without them (`npm ci --omit=dev`) still runs `prepare`, and must
// not fail for it. The gateway then says at startup that the page is not built.
let build
try {
  ;({ build } = await import('esbuild'))
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error
  console.error('streamgate: esbuild is not installed, so the inspector page is not built (install the dev dependencies and run `npm run inspector:build`)')
  process.exit(process.env.npm_lifecycle_event === 'prepare' ? 0 : 1)
}

const here = fileURLToPath(new URL('.', import.meta.url))
const at = process.argv.indexOf('--out')
const out = at > 0 ? resolve(process.argv[at + 1]) : join(here, 'dist')

rmSync(out, { recursive: true, force: true })
mkdirSync(join(out, 'assets'), { recursive: true })
const result = await build({
  entryPoints: [join(here, 'page/main.ts'), join(here, 'page/inspector.css')],
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  outdir: join(out, 'assets'),
  entryNames: 'inspector.[hash]',
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
})
const outputs = Object.keys(result.metafile.outputs).map((path) => resolve(path))
const named = (extension) => {
  const file = outputs.find((path) => path.endsWith(extension))
  if (!file) throw new Error(`esbuild wrote no ${extension} file`)
  return file
}
const script = named('.js')
const style = named('.css')
const page = readFileSync(join(here, 'page/index.html'), 'utf8').replace('%SCRIPT%', basename(script)).replace('%STYLE%', basename(style))
writeFileSync(join(out, 'index.html'), page)

const sizes = []
for (const file of [join(out, 'index.html'), script, style]) {
  const body = readFileSync(file)
  const gzip = gzipSync(body, { level: 9 })
  writeFileSync(`${file}.gz`, gzip)
  sizes.push(`${basename(file)} ${(body.length / 1024).toFixed(1)} kB (${(gzip.length / 1024).toFixed(1)} kB gzip)`)
}
console.log(`inspector built in ${out}: ${sizes.join(', ')}`)
