import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { CliGateway } from './helpers/cli-process.ts'
import { rest } from './helpers/gateway.ts'

const gateways: CliGateway[] = []
afterEach(async () => {
  for (const gw of gateways.splice(0)) await gw.close()
})

async function started(options: Parameters<typeof CliGateway.create>[0] = {}) {
  const gw = await CliGateway.create(options)
  gateways.push(gw)
  await gw.start()
  return gw
}

/** The process's stderr, without pino's JSON log lines: what a person reads. */
const message = (stderr: string) => stderr.split('\n').filter((line) => line && !line.startsWith('{'))

describe('the data directory of the real process', () => {
  it('refuses a second process on the same directory with one line naming it; the first keeps serving', async () => {
    const gw = await started()
    const second = await gw.run()
    expect(second.code).toBe(1)
    expect(message(second.stderr)).toEqual([`streamgate: data directory ${gw.dataDir} is in use by another streamgate process (pid ${gw.pid})`])
    expect((await rest(gw.url, 'PUT', '/streams/chat/dir/a', { ok: true })).status).toBe(201)
  })

  it('exits 1 with one line on a damaged data file, every time, and leaves the file as it was', async () => {
    const gw = await started()
    for (let n = 0; n < 50; n++) await rest(gw.url, 'PUT', `/streams/chat/dir/i${n}`, { pad: 'x'.repeat(3000) })
    await gw.kill()
    const file = join(gw.dataDir, 'data.mdb')
    const damaged = Buffer.from(readFileSync(file))
    damaged.fill(0x41, 0, 8192)
    writeFileSync(file, damaged)
    for (let attempt = 0; attempt < 2; attempt++) {
      const run = await gw.run()
      expect(run.code).toBe(1)
      expect(message(run.stderr)).toEqual([expect.stringMatching(new RegExp(`^streamgate: data directory ${gw.dataDir} is damaged: data\\.mdb is not an LMDB file`))])
    }
    expect(readFileSync(file).equals(damaged)).toBe(true)
  })

  it('keeps disk use bounded under an endless update loop on a few items, with items coming and going', async () => {
    // The `short` stream keeps 5 events per group.
    const gw = await started({ args: ['--streams', new URL('./fixtures/short-history', import.meta.url).pathname] })
    const pad = 'p'.repeat(2000)
    const file = join(gw.dataDir, 'data.mdb')
    const round = (n: number) =>
      Promise.all([
        ...Array.from({ length: 8 }, (_, i) => rest(gw.url, 'PUT', `/streams/short/g${i % 2}/i${i % 4}`, { n, pad })),
        rest(gw.url, 'PUT', `/streams/short/g0/gone-${n}`, { pad }),
        ...(n > 0 ? [rest(gw.url, 'DELETE', `/streams/short/g0/gone-${n - 1}`)] : []),
      ])
    for (let n = 0; n < 100; n++) await round(n)
    const settled = statSync(file).size
    for (let n = 100; n < 600; n++) await round(n)
    expect(statSync(file).size).toBeLessThanOrEqual(settled * 1.25)
    expect(statSync(file).size).toBeLessThan(4 * 1024 * 1024)
    expect((await rest(gw.url, 'GET', '/streams/short/g0')).body.map((i: { id: string }) => i.id)).toEqual(['i0', 'i2', 'gone-599'])
  }, 120_000)
})
