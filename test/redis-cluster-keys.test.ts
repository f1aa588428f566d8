import calculateSlot from 'cluster-key-slot'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { clusterLayout, slotTag } from '../gateway/store/redis-keys.ts'
import { clusterCoverageProblem, redisServerProblem } from '../gateway/store/redis-store.ts'

/** The Redis Cluster key layout and startup checks, against hostile names and arbitrary slot maps. */

const name = fc.string({ unit: 'binary', maxLength: 40 })

describe('Redis Cluster key layout', () => {
  it('puts every key and the channel of a group, and its epoch key, in one hash slot, whatever the names', () => {
    const layout = clusterLayout('sg:')
    fc.assert(
      fc.property(name, name, (streamName, groupId) => {
        const keys = layout(streamName, groupId)
        const slots = new Set([keys.epoch, keys.meta, keys.items, keys.log, keys.channel, keys.exp, keys.idem(groupId)].map((key) => calculateSlot(key)))
        expect(slots.size).toBe(1)
      }),
      { numRuns: 2000 },
    )
  })

  it('gives distinct (stream, group) pairs distinct keys', () => {
    const layout = clusterLayout('sg:')
    fc.assert(
      fc.property(name, name, name, name, (s1, g1, s2, g2) => {
        fc.pre(s1 !== s2 || g1 !== g2)
        expect(layout(s1, g1).meta).not.toBe(layout(s2, g2).meta)
        expect(layout(s1, g1).channel).not.toBe(layout(s2, g2).channel)
      }),
      { numRuns: 2000 },
    )
    // Names full of the separators and braces the layout uses.
    const tricky = fc.string({ unit: fc.constantFrom(':', '{', '}', 'a', '1'), maxLength: 8 })
    fc.assert(
      fc.property(tricky, tricky, tricky, tricky, (s1, g1, s2, g2) => {
        fc.pre(s1 !== s2 || g1 !== g2)
        expect(layout(s1, g1).items).not.toBe(layout(s2, g2).items)
      }),
      { numRuns: 5000 },
    )
  })

  it('has a tag for every one of the 16384 slots that hashes to it', () => {
    for (let slot = 0; slot < 16384; slot++) expect(calculateSlot(slotTag(slot))).toBe(slot)
  })

  it('refuses a prefix with a brace, which would move every key into one slot', () => {
    fc.assert(
      fc.property(fc.string(), fc.constantFrom('{', '}'), fc.string(), (before, brace, after) => {
        expect(() => clusterLayout(before + brace + after)).toThrow(/brace/)
      }),
    )
  })
})

describe('Redis Cluster startup checks', () => {
  it('reports exactly the slots no master serves', () => {
    const ranges = fc.array(fc.tuple(fc.integer({ min: 0, max: 16383 }), fc.integer({ min: 0, max: 600 })), { maxLength: 30 })
    fc.assert(
      fc.property(ranges, fc.boolean(), (raw, full) => {
        const slots: Array<[number, number]> = raw.map(([from, length]) => [from, Math.min(16383, from + length)])
        if (full) slots.push([0, 16383])
        const served = new Set(slots.flatMap(([from, to]) => Array.from({ length: to - from + 1 }, (_, i) => from + i)))
        const problem = clusterCoverageProblem(slots, served.size === 16384 ? 'ok' : 'fail')
        if (served.size === 16384) {
          expect(problem).toBeUndefined()
        } else {
          const first = Array.from({ length: 16384 }, (_, i) => i).find((slot) => !served.has(slot))!
          expect(problem).toMatch(new RegExp(`^hash slots ${first}\\b.*have no master \\(cluster_state:fail\\)`))
        }
      }),
      { numRuns: 300 },
    )
  })

  it('refuses a cluster older than Redis 7 (no sharded Pub/Sub), and a fully served one that is not ok', () => {
    expect(redisServerProblem({ redis_version: '6.2.14', cluster_enabled: '1', role: 'master' })).toMatch(/no sharded Pub\/Sub .* Redis 7\.0 or newer/)
    expect(redisServerProblem({ redis_version: '7.0.15', cluster_enabled: '1', role: 'slave' })).toBeUndefined()
    expect(redisServerProblem({ redis_version: '7.0.15', cluster_enabled: '0', role: 'slave' })).toMatch(/replica/)
    expect(clusterCoverageProblem([[0, 16383]], 'fail')).toMatch(/cluster_state is fail/)
  })
})
