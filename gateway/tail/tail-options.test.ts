import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { formatTarget, parseTailOptions, parseTarget } from './tail-options.ts'

const name = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 })

describe('streamgate tail: its target and options', () => {
  it('reads back any stream, group and item id it formats, "/" and "%" included', () => {
    fc.assert(
      fc.property(name, name, fc.option(name, { nil: undefined }), (streamName, groupId, id) => {
        const address = id === undefined ? { streamName, groupId } : { streamName, groupId, id }
        expect(parseTarget(formatTarget(address))).toEqual(address)
      }),
    )
  })

  it('refuses anything that is not two or three non-empty parts, with a message that quotes it', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const parts = text.split('/')
        let ok = parts.length >= 2 && parts.length <= 3 && parts.every((p) => p !== '')
        try {
          parts.forEach((p) => decodeURIComponent(p))
        } catch {
          ok = false
        }
        if (ok) expect(() => parseTarget(text)).not.toThrow()
        else expect(() => parseTarget(text)).toThrow(/"/)
      }),
    )
  })

  it('takes --url and --token, else STREAMGATE_URL and STREAMGATE_TOKEN, else the local default', () => {
    expect(parseTailOptions(['todo/inbox'], {})).toEqual({ address: { streamName: 'todo', groupId: 'inbox' }, url: 'http://127.0.0.1:3000' })
    expect(parseTailOptions(['todo/inbox/t1'], { STREAMGATE_URL: 'https://gw.example', STREAMGATE_TOKEN: 'env' })).toEqual({
      address: { streamName: 'todo', groupId: 'inbox', id: 't1' },
      url: 'https://gw.example',
      token: 'env',
    })
    expect(parseTailOptions(['a/b', '--url', 'ws://h:1', '--token', 'flag'], { STREAMGATE_TOKEN: 'env' })).toMatchObject({ url: 'ws://h:1', token: 'flag' })
    expect(parseTailOptions(['--help'], {})).toBe('help')
    expect(() => parseTailOptions([], {})).toThrow(/name what to follow/)
    expect(() => parseTailOptions(['a/b', 'c/d'], {})).toThrow(/one target/)
    expect(() => parseTailOptions(['a/b', '--url', 'nope'], {})).toThrow(/not a URL/)
    expect(() => parseTailOptions(['a/b', '--url', 'file:///x'], {})).toThrow(/http/)
    expect(() => parseTailOptions(['a/b', '--port', '1'], {})).toThrow(/--port/)
  })
})
