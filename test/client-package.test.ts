// @streamgate/client as published: what each entry point bundles to (the SSE/WebSocket entry point carries
// no protobuf code), and a build whose exports map points at real files that Node can import.
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { type Measured, measure } from '../clients/typescript/scripts/size.mjs'

const PACKAGE = new URL('../clients/typescript/', import.meta.url).pathname
const protobufInputs = (m: Measured) => m.inputs.filter((input) => /@bufbuild|@connectrpc|\/gen\//.test(input))

describe('@streamgate/client bundles', () => {
  it('keeps protobuf and connect-es out of the WebSocket/SSE and React entry points, and stays small', async () => {
    const results = await measure()
    const byName = Object.fromEntries(results.map((r) => [r.name, r]))
    for (const name of ['@streamgate/client', '@streamgate/client/react']) {
      const bundle = byName[name]!
      expect(protobufInputs(bundle), name).toEqual([])
      // Strings protobuf-es and connect-es cannot do without.
      expect(/google\.protobuf|connect-protocol-version|\$typeName/i.test(bundle.code), `${name} contains protobuf code`).toBe(false)
    }
    // The check can fail: the Connect entry point does carry them.
    expect(protobufInputs(byName['@streamgate/client/connect']!).length).toBeGreaterThan(10)
    expect(/google\.protobuf/.test(byName['@streamgate/client/connect']!.code)).toBe(true)
    expect(/connect-protocol-version/i.test(byName['@streamgate/client/connect']!.code)).toBe(true)
    expect(byName['@streamgate/client']!.gzipBytes).toBeLessThan(8 * 1024)
    expect(byName['@streamgate/client/react']!.gzipBytes).toBeLessThan(9 * 1024)
  })
})

describe('@streamgate/client package', () => {
  const out = mkdtempSync(join(tmpdir(), 'streamgate-client-'))
  afterAll(() => rmSync(out, { recursive: true, force: true }))

  it('builds JavaScript and declarations for every export, and the core imports in plain Node', async () => {
    const manifest = JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8'))
    expect(manifest).toMatchObject({ name: '@streamgate/client', type: 'module', sideEffects: false })
    expect(existsSync(join(PACKAGE, 'README.md'))).toBe(true)
    execFileSync('node', [join(PACKAGE, 'scripts/build.mjs'), '--out', join(out, 'dist')], { cwd: PACKAGE, stdio: 'pipe' })
    copyFileSync(join(PACKAGE, 'package.json'), join(out, 'package.json'))
    expect(Object.keys(manifest.exports)).toEqual(['.', './connect', './react', './motia', './package.json'])
    for (const [entry, target] of Object.entries(manifest.exports as Record<string, string | { types: string; import: string }>)) {
      if (typeof target === 'string') continue
      expect(existsSync(join(out, target.types)), `${entry} types`).toBe(true)
      expect(existsSync(join(out, target.import)), `${entry} import`).toBe(true)
      // Declarations point at the emitted .js files, not at the sources' .ts.
      expect(readFileSync(join(out, target.types), 'utf8')).not.toMatch(/from '\.[^']*\.ts'/)
    }
    const core = await import(pathToFileURL(join(out, manifest.exports['.'].import)).href)
    expect(Object.keys(core)).toEqual(expect.arrayContaining(['Stream', 'websocketTransport', 'sseTransport', 'StreamGroupSubscription']))
    const stream = new core.Stream('ws://127.0.0.1:9')
    expect(stream.status).toBe('idle')
    stream.close()
  })
})
