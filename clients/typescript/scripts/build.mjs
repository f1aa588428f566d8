// Builds dist/: JavaScript (ES2022 modules, one file per source file, relative imports rewritten to .js)
// and declarations, with TypeScript from the repository (or this package's devDependencies).
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
// `--out DIR` builds elsewhere (the tests do); default dist/.
const at = process.argv.indexOf('--out')
const dist = at > 0 ? resolve(process.argv[at + 1]) : join(root, 'dist')
rmSync(dist, { recursive: true, force: true })
execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', dist], { cwd: root, stdio: 'inherit' })

// Declarations keep the sources' `.ts` specifiers; point them at the emitted files.
const walk = (dir) => readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? walk(join(dir, name)) : [join(dir, name)]))
for (const file of walk(dist).filter((f) => f.endsWith('.d.ts'))) {
  const text = readFileSync(file, 'utf8')
  const fixed = text.replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+)\.tsx?\2/g, '$1$2$3.js$2')
  if (fixed !== text) writeFileSync(file, fixed)
}
console.log(`built ${walk(dist).length} files in ${dist}`)
