import { type LogPosition, resumeToken, UNKNOWN_SEQ } from './resume-token.ts'

/**
 * Where a connection that follows several groups stands in each of their logs, so that every frame can
 * carry one resume token for all of them (SSE's `id:`). Groups keep the order they were first named in.
 */
export class Positions {
  private readonly seqs: number[]
  private epoch: string

  constructor(
    private readonly groups: string[],
    from: LogPosition[] | null | undefined,
  ) {
    this.seqs = groups.map((_, i) => from?.[i]?.seq ?? 0)
    this.epoch = from?.[0]?.epoch ?? ''
  }

  /**
   * Positions only move forward within an epoch. When the store's epoch changes (a restart under a shared
   * store), every group's position belongs to the old log until that group's own frame of the new epoch
   * arrives: until then it resumes as unknown, which gives a reset sync. A sync sets the group's position;
   * a change only moves it forward (a state change re-sent after a sync is older than what was sent).
   */
  advance(group: string, epoch: string, seq: number, isSync: boolean) {
    if (epoch !== this.epoch) {
      this.seqs.fill(UNKNOWN_SEQ)
      this.epoch = epoch
    }
    const i = this.groups.indexOf(group)
    if (i < 0) return
    this.seqs[i] = isSync || this.seqs[i] === UNKNOWN_SEQ ? seq : Math.max(this.seqs[i]!, seq)
  }

  token() {
    return resumeToken(this.epoch, ...this.seqs)
  }
}
