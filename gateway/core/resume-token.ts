/**
 * A resume token names positions in group logs. A single subscription's token is `<epoch>.<seq>`; a
 * connection that follows several groups (SSE) gets one position per group, in the order it first named
 * them: `<epoch>.<position>.<position>...`, where a position is `<seq>` in the token's epoch, `<epoch>:<seq>` in
 * another one (epochs are per slot on a Redis Cluster), or `-` for a group the client holds nothing of.
 */
export interface LogPosition {
  epoch: string
  seq: number
}

const EPOCH = /^[A-Za-z0-9_-]{1,64}$/
const SEQ = /^\d{1,15}$/

export const resumeToken = (epoch: string, seq: number) => `${epoch}.${seq}`

/** The token of a connection's positions, one per group (undefined: none yet). */
export function compositeToken(positions: Array<LogPosition | undefined>): string {
  const lead = positions.find((p) => p !== undefined)?.epoch ?? '-'
  return [lead, ...positions.map((p) => (p === undefined ? '-' : p.epoch === lead ? String(p.seq) : `${p.epoch}:${p.seq}`))].join('.')
}

/**
 * The positions of a token made for `groups` groups (undefined where the client holds nothing), or null for
 * anything this gateway could not have made.
 */
export function parseResumeToken(token: string, groups = 1): Array<LogPosition | undefined> | null {
  const [lead, ...parts] = token.split('.')
  if (lead === undefined || !EPOCH.test(lead) || parts.length !== groups) return null
  const positions: Array<LogPosition | undefined> = []
  for (const part of parts) {
    if (part === '-') {
      positions.push(undefined)
      continue
    }
    const at = part.indexOf(':')
    const epoch = at < 0 ? lead : part.slice(0, at)
    const seq = at < 0 ? part : part.slice(at + 1)
    if (!EPOCH.test(epoch) || !SEQ.test(seq)) return null
    positions.push({ epoch, seq: Number(seq) })
  }
  return positions
}

/**
 * Where a single subscription's token says the client stands: undefined without a token (absent or empty),
 * null for one that is unusable (the client then gets a reset sync), else the position.
 */
export function resumeFromToken(token: string | undefined): LogPosition | null | undefined {
  if (token === undefined || token === '') return undefined
  const [position] = parseResumeToken(token) ?? [null]
  return position ?? null
}
