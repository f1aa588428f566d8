import { compositeToken, type LogPosition } from './resume-token.ts'

/**
 * Where a connection that follows several groups stands in each of their logs, so that every frame can
 * carry one resume token for all of them (SSE's `id:`). Groups keep the order they were first named in; each
 * position carries its own epoch, so a group whose log restarted (a new epoch: a store restarted empty, a
 * Redis Cluster slot failed over) resumes as what it is: a position in a log that is gone, hence a reset sync.
 */
export class Positions {
  private readonly positions: Array<LogPosition | undefined>

  constructor(
    private readonly groups: string[],
    from: Array<LogPosition | undefined> | null | undefined,
  ) {
    this.positions = groups.map((_, i) => from?.[i])
  }

  /** A sync sets the group's position; a change only moves it forward within its epoch. */
  advance(group: string, epoch: string, seq: number, isSync: boolean) {
    const i = this.groups.indexOf(group)
    if (i < 0) return
    const current = this.positions[i]
    if (isSync || current?.epoch !== epoch) this.positions[i] = { epoch, seq }
    else current.seq = Math.max(current.seq, seq)
  }

  token() {
    return compositeToken(this.positions)
  }
}
