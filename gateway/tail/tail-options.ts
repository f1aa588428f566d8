import { parseArgs } from 'node:util'
import type { Address } from '../model/records.ts'

export interface TailOptions {
  address: Address
  url: string
  token?: string
}

export const tailUsage = `Usage: streamgate tail <stream>/<group>[/<id>] [options]

Follows a group (or one item) of a running gateway and prints every frame as it arrives, one JSON line
each on stdout: the sync first, then every create, update, delete and custom event. Reconnects and
resumes after a disconnect, without a new sync when the gateway still has the missed events. Names that
contain "/" or "%" are written percent-encoded (%2F, %25).

  --url URL        the gateway                        STREAMGATE_URL (http://127.0.0.1:3000)
  --token TOKEN    sent as Authorization: Bearer      STREAMGATE_TOKEN
  --help`

/** `<stream>/<group>[/<id>]`, each part percent-decoded. */
export function parseTarget(text: string): Address {
  const parts = text.split('/')
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new Error(`"${text}" is not <stream>/<group> or <stream>/<group>/<id>`)
  }
  let decoded: string[]
  try {
    decoded = parts.map(decodeURIComponent)
  } catch {
    throw new Error(`"${text}" has a malformed percent-encoding`)
  }
  const [streamName, groupId, id] = decoded as [string, string, string | undefined]
  return id === undefined ? { streamName, groupId } : { streamName, groupId, id }
}

/** The target as `parseTarget` reads it. */
export const formatTarget = ({ streamName, groupId, id }: Address) => [streamName, groupId, ...(id === undefined ? [] : [id])].map(encodeURIComponent).join('/')

export function parseTailOptions(argv: string[], env: NodeJS.ProcessEnv): TailOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { url: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean' } },
  })
  if (values.help) return 'help'
  if (positionals.length !== 1) throw new Error(positionals.length ? `one target, got ${positionals.length}` : 'name what to follow: <stream>/<group>[/<id>]')
  const url = values.url ?? env.STREAMGATE_URL ?? 'http://127.0.0.1:3000'
  let protocol: string
  try {
    protocol = new URL(url).protocol
  } catch {
    throw new Error(`--url "${url}" is not a URL`)
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(protocol)) throw new Error(`--url must be http(s):// or ws(s)://, got "${url}"`)
  const token = values.token ?? env.STREAMGATE_TOKEN
  return { address: parseTarget(positionals[0]!), url, ...(token ? { token } : {}) }
}
