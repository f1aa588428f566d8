import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { hashOf, routeOf } from './route.ts'

const name = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 })

describe('the page address #/<stream>/<group>', () => {
  it('names any stream and group, whatever characters they hold', () => {
    fc.assert(
      fc.property(name, fc.option(name, { nil: undefined }), (stream, group) => {
        expect(routeOf(hashOf(stream, group))).toEqual(group === undefined ? { stream } : { stream, group })
      }),
    )
  })

  it('chooses nothing for any other hash, and never throws', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (hash) => {
        const route = routeOf(hash)
        if (route.stream === undefined) {
          expect(route).toEqual({})
          return
        }
        expect(routeOf(hashOf(route.stream, route.group))).toEqual(route)
      }),
    )
    expect(routeOf('#/%E0%A4%A')).toEqual({})
    expect(routeOf('#/a/b/c')).toEqual({})
    expect(routeOf('#/a/')).toEqual({})
    expect(routeOf('')).toEqual({})
  })
})
