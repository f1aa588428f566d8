/** Node's HTTP/1.1 response or its HTTP/2 compatibility response (which has a `stream`). */
interface Response {
  write(chunk: Buffer): boolean
  cork(): void
  uncork(): void
}

/**
 * Writes the frames of one delivery round on an HTTP response and answers the socket's backpressure.
 * Node 22's HTTP/1.1 response buffers corked writes itself and answers each with true, so the socket's
 * backpressure would never reach the core: over HTTP/1.1 a round is one buffer, one write. An HTTP/2
 * stream is corked around the round's frames (no copy).
 */
export function writeRound(raw: Response, frames: Buffer[]): boolean {
  if (frames.length === 1) return raw.write(frames[0]!)
  if (!('stream' in raw)) return raw.write(Buffer.concat(frames))
  raw.cork()
  let writable = true
  for (const frame of frames) writable = raw.write(frame)
  raw.uncork()
  return writable
}
