import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Positions } from './positions.ts'
import { compositeToken, parseResumeToken, resumeFromToken } from './resume-token.ts'

const epoch = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/)
const position = fc.option(fc.record({ epoch, seq: fc.nat(1e12) }), { nil: undefined })

describe('resume tokens', () => {
  it('carry every group position, each in its own epoch, through a round trip', () => {
    fc.assert(
      fc.property(fc.array(position, { minLength: 1, maxLength: 8 }), (positions) => {
        const token = compositeToken(positions)
        expect(parseResumeToken(token, positions.length)).toEqual(positions)
        expect(token).toMatch(/^[A-Za-z0-9_:.-]+$/)
      }),
    )
  })

  it('read whatever they accept as the positions the canonical token names, and refuse the rest', () => {
    const part = fc.oneof(fc.constant('-'), fc.nat(99).map(String), fc.tuple(epoch, fc.nat(99)).map(([e, n]) => `${e}:${n}`), fc.string({ maxLength: 4 }))
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.tuple(epoch, fc.array(part, { minLength: 1, maxLength: 4 })).map(([e, parts]) => [e, ...parts].join('.'))), (text) => {
        const groups = text.split('.').length - 1 || 1
        const parsed = parseResumeToken(text, groups)
        if (parsed) expect(parseResumeToken(compositeToken(parsed), groups)).toEqual(parsed)
      }),
    )
    for (const bad of ['', 'e', 'e.', 'e.x', 'e.1.2', '.1', 'e:1', 'e.-1', 'e.1e3', 'e.a:', 'e.:1', `${'e'.repeat(65)}.1`, 'e.1234567890123456']) {
      expect({ bad, parsed: parseResumeToken(bad) }).toEqual({ bad, parsed: null })
    }
    expect(resumeFromToken('e.-')).toBeNull()
    expect(resumeFromToken('')).toBeUndefined()
    expect(resumeFromToken('e.5')).toEqual({ epoch: 'e', seq: 5 })
  })

  it('positions of a multiplexed connection: a sync sets, a change moves forward, a new epoch starts over', () => {
    const positions = new Positions(['a', 'b', 'c'], parseResumeToken('e1.4.-.e2:9', 3))
    expect(positions.token()).toBe('e1.4.-.e2:9')
    positions.advance('b', 'e2', 3, true)
    positions.advance('a', 'e1', 2, false)
    expect(positions.token()).toBe('e1.4.e2:3.e2:9')
    positions.advance('a', 'e3', 1, true)
    expect(positions.token()).toBe('e3.1.e2:3.e2:9')
  })
})
