/** A resume token names a position in one group's log: the store's epoch and a sequence number. */
export interface LogPosition {
  epoch: string
  seq: number
}

export const resumeToken = (epoch: string, seq: number) => `${epoch}.${seq}`

/** Null for anything that is not a token this gateway could have made. */
export function parseResumeToken(token: string): LogPosition | null {
  const match = /^([A-Za-z0-9_-]{1,64})\.(\d{1,15})$/.exec(token)
  return match ? { epoch: match[1]!, seq: Number(match[2]) } : null
}
