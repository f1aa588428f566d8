import { defineWireFormat } from '../../core/wire.ts'
import { recordFrame, syncFrame } from '../motia-frames.ts'

/**
 * A whole WebSocket text frame (RFC 6455 section 5.2: FIN, opcode 1, no mask, then the length in 7, 16 or
 * 64 bits). Server frames are not masked, so the bytes are the same for every connection: each record is
 * framed once and the same buffer goes into every socket. ws frames only what it sends itself, so the header
 * is written here.
 */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text)
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10
  const frame = Buffer.allocUnsafe(header + length)
  frame[0] = 0x81
  if (header === 2) frame[1] = length
  else if (header === 4) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 127
    frame.writeBigUInt64BE(BigInt(length), 2)
  }
  frame.write(text, header)
  return frame
}

/** Motia's frames, one per WebSocket text frame. */
export const websocketFormat = defineWireFormat({
  name: 'websocket',
  record: (record, conflated) => textFrame(recordFrame(record, conflated)),
  sync: (address, snapshot, reset) => textFrame(syncFrame(address, snapshot, reset)),
})
