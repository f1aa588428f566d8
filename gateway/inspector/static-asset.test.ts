import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { acceptsGzip, matchesEtag } from './static-asset.ts'

describe('negotiating a static asset', () => {
  it('takes gzip when Accept-Encoding names it or *, with a q-value above 0', () => {
    expect(acceptsGzip(undefined)).toBe(false)
    expect(acceptsGzip('')).toBe(false)
    expect(acceptsGzip('gzip')).toBe(true)
    expect(acceptsGzip('br, GZIP;q=0.5')).toBe(true)
    expect(acceptsGzip('gzip;q=0')).toBe(false)
    expect(acceptsGzip('*;q=0.1')).toBe(true)
    expect(acceptsGzip('*, gzip;q=0')).toBe(false)
    expect(acceptsGzip('identity, deflate')).toBe(false)
  })

  it('reads any header without throwing, and a gzip entry decides over *', () => {
    fc.assert(
      fc.property(fc.string(), fc.constantFrom('', ';q=0', ';q=0.000', ';q=1', ';q=0.4'), fc.string(), (before, q, after) => {
        expect(typeof acceptsGzip(before + after)).toBe('boolean')
        const clean = (text: string) => text.replace(/gzip|\*/gi, 'x')
        expect(acceptsGzip(`${clean(before)},gzip${q},${clean(after)}`)).toBe(!/^;q=0(\.0+)?$/.test(q))
      }),
    )
  })

  it('matches If-None-Match lists, weak tags and *', () => {
    const etag = '"abc"'
    expect(matchesEtag(undefined, etag)).toBe(false)
    expect(matchesEtag('"abc"', etag)).toBe(true)
    expect(matchesEtag('W/"abc"', etag)).toBe(true)
    expect(matchesEtag('"x", "abc"', etag)).toBe(true)
    expect(matchesEtag('*', etag)).toBe(true)
    expect(matchesEtag('"abcd"', etag)).toBe(false)
    fc.assert(
      fc.property(fc.string(), (header) => {
        expect(matchesEtag(header, etag)).toBe(header.split(',').some((t) => ['*', etag, `W/${etag}`].includes(t.trim())))
      }),
    )
  })
})
