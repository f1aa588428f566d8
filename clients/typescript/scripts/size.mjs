// Bundles each entry point the way an app's bundler would (esbuild, minified, ESM, browser) and reports its
// size minified and minified+gzipped. React is a peer dependency and stays external; the Connect entry
// point's connect-es and protobuf-es are counted. `node scripts/size.mjs` prints a Markdown table;
// `--json` prints the numbers. The tests import `measure()` to check what each bundle contains.
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))

export const ENTRIES = [
  { name: '@streamgate/client', file: 'src/index.ts', what: 'Stream, WebSocket and SSE transports' },
  { name: '@streamgate/client/react', file: 'src/react.ts', what: 'provider and hooks (+ the core; React itself external)' },
  { name: '@streamgate/client/connect', file: 'src/connect.ts', what: 'Connect transport with connect-es, protobuf-es and the generated code' },
  {
    name: 'app: Stream + connectTransport',
    contents: "export { Stream } from './src/index.ts'\nexport { connectTransport } from './src/connect.ts'\n",
    what: 'what an app using Connect loads',
  },
]

/** Bundles one entry point; returns its minified code, the sizes and the input files esbuild used. */
export async function bundle(entry) {
  const result = await build({
    ...(entry.file ? { entryPoints: [entry.file] } : { stdin: { contents: entry.contents, resolveDir: root, loader: 'ts', sourcefile: 'app.ts' } }),
    absWorkingDir: root,
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    metafile: true,
    treeShaking: true,
    external: ['react', 'react-dom', 'react/jsx-runtime'],
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  })
  const code = result.outputFiles[0].text
  return {
    name: entry.name,
    what: entry.what,
    code,
    inputs: Object.keys(result.metafile.inputs),
    minBytes: Buffer.byteLength(code),
    gzipBytes: gzipSync(code, { level: 9 }).length,
  }
}

export async function measure() {
  const results = []
  for (const entry of ENTRIES) results.push(await bundle(entry))
  return results
}

const kb = (bytes) => `${(bytes / 1024).toFixed(1)} kB`

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const results = await measure()
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(results.map(({ name, minBytes, gzipBytes }) => ({ name, minBytes, gzipBytes })), null, 2))
  } else {
    console.log('| Entry point | min | min+gzip | contains |')
    console.log('|---|---:|---:|---|')
    for (const r of results) console.log(`| \`${r.name}\` | ${kb(r.minBytes)} | ${kb(r.gzipBytes)} | ${r.what} |`)
  }
}
