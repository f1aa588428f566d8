import { resumeToken } from '../../core/resume-token.ts'
import { defineWireFormat } from '../../core/wire.ts'
import { recordFrame, syncFrame } from '../motia-frames.ts'

const message = (id: string, data: string) => Buffer.from(`id: ${id}\ndata: ${data}\n\n`)
/** A message without an `id:` (an error event), or the part of one after its `id:` line. */
export const dataMessage = (frame: string) => Buffer.from(`data: ${frame}\n\n`)

/** One group's stream: each message's `id:` is the record's own position, the same for every subscriber. */
export const sseFormat = defineWireFormat({
  name: 'sse',
  record: (record, conflated) => message(resumeToken(record.epoch, record.seq), recordFrame(record, conflated)),
  sync: (address, snapshot, reset) => message(resumeToken(snapshot.epoch, snapshot.seq), syncFrame(address, snapshot, reset)),
})

/**
 * A stream over several groups: the message (shared) and its `id:` line (the connection's position in every
 * group it follows) are written apart.
 */
export const sseMultiplexedFormat = defineWireFormat({
  name: 'sse-multiplexed',
  record: (record, conflated) => dataMessage(recordFrame(record, conflated)),
  sync: (address, snapshot, reset) => dataMessage(syncFrame(address, snapshot, reset)),
  position: (token) => Buffer.from(`id: ${token}\n`),
})
