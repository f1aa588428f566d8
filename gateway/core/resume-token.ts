/**
 * A resume token names positions in group logs: the store's epoch and, for each group a connection follows
 * (in the order it subscribed to them), the sequence number of the last event it got. A single
 * subscription's token is `<epoch>.<seq>`; a multiplexed connection's is `<epoch>.<seq>.<seq>...`.
 */
export interface LogPosition {
  epoch: string
  seq: number
}

/** A position past the end of any log: resuming from it always gives a reset sync. */
export const UNKNOWN_SEQ = 999_999_999_999_999

export const resumeToken = (epoch: string, ...seqs: number[]) => `${epoch}.${seqs.join('.')}`

/** Null for anything that is not a token this gateway could have made for `groups` groups. */
export function parseResumeToken(token: string, groups = 1): LogPosition[] | null {
  const parts = token.split('.')
  const [epoch, ...seqs] = parts
  if (!epoch || !/^[A-Za-z0-9_-]{1,64}$/.test(epoch) || seqs.length !== groups) return null
  if (!seqs.every((s) => /^\d{1,15}$/.test(s))) return null
  return seqs.map((s) => ({ epoch, seq: Number(s) }))
}

/**
 * Where a single subscription's token says the client stands: undefined without a token (absent or empty),
 * null for one that is unusable (the client then gets a reset sync), else the position.
 */
export const resumeFromToken = (token: string | undefined): LogPosition | null | undefined =>
  token === undefined || token === '' ? undefined : (parseResumeToken(token)?.[0] ?? null)
