import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { WriteRate } from './write-rate.ts'

describe('WriteRate', () => {
  it('is the increase since the oldest sample of the window, per second, whatever the counter did before it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat({ max: 500 }), { minLength: 1, maxLength: 30 }), async (increments) => {
        let now = 0
        let total = 0
        const rate = new WriteRate(async () => total, 5000, () => now)
        for (const increment of increments) {
          await rate.sample()
          now += 1000
          total += increment
        }
        // The oldest sample kept is the last one at least 5 s before the newest sample (one a second, the
        // last a second ago): the rate covers the last six increments, or all of them when fewer.
        const window = increments.slice(-6)
        const expected = window.reduce((a, b) => a + b, 0) / window.length
        const reading = await rate.now()
        expect(reading.total).toBe(total)
        // Shown to one decimal.
        expect(Math.abs(reading.perSecond - expected)).toBeLessThanOrEqual(0.05 + 1e-9)
      }),
    )
  })

  it('reads 0 before its first sample and when nothing was written', async () => {
    let now = 0
    const rate = new WriteRate(async () => 42, 5000, () => now)
    expect(await rate.now()).toEqual({ total: 42, perSecond: 0 })
    await rate.sample()
    now += 3000
    expect(await rate.now()).toEqual({ total: 42, perSecond: 0 })
  })

  it('takes its first sample when started, so the writes of the first second count', async () => {
    let now = 0
    let total = 0
    const rate = new WriteRate(async () => total, 5000, () => now)
    rate.start(60_000)
    try {
      await new Promise((resolve) => setImmediate(resolve))
      total = 30
      now = 1500
      expect(await rate.now()).toEqual({ total: 30, perSecond: 20 })
    } finally {
      rate.stop()
    }
  })
})
