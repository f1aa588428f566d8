/**
 * A delivery round hands every call of a group the same frame buffers. Joined once, they leave as one
 * buffer per call instead of one write per frame: the first call of a round writes its frames as they are
 * and they are remembered; the next call with exactly the same frames gets them joined, and so do the calls
 * after it. Calls whose frames differ (a sync, a conflated frame) never pay for a join.
 */
export class JoinedFrames {
  private last: Buffer[] = []
  private joined: Buffer | undefined

  /** One buffer for `frames` when a previous call had the same ones; else undefined (write them as they are). */
  of(frames: Buffer[]): Buffer | undefined {
    if (frames.length === 1) return frames[0]
    if (!sameFrames(frames, this.last)) {
      this.last = frames
      this.joined = undefined
      return undefined
    }
    return (this.joined ??= Buffer.concat(frames))
  }
}

function sameFrames(a: Buffer[], b: Buffer[]) {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
