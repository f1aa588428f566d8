import { Code, ConnectError } from '@connectrpc/connect'
import {
  type Compression,
  createMethodSerializationLookup,
  pipe,
  transformDecompressEnvelope,
  transformParseEnvelope,
  transformSplitEnvelope,
  validateReadWriteMaxBytes,
} from '@connectrpc/connect/protocol'
import { type SubscribeRequest, StreamService } from '../../gen/streamgate/v1/stream_pb.ts'

/**
 * Reads the one request message of a Subscribe call from its body, through connect-es's own envelope
 * splitting, decompression and parsing, so every malformed, oversized or compressed request gets the code
 * and message connect-es gives it: an envelope over `readMaxBytes` is refused from its header, before its
 * bytes are read.
 */
export async function readSubscribeRequest(
  body: AsyncIterable<Uint8Array>,
  options: { binary: boolean; compression: Compression | null; endFlag?: number; readMaxBytes: number },
): Promise<SubscribeRequest> {
  const limits = validateReadWriteMaxBytes(options.readMaxBytes, undefined, undefined)
  const serialization = createMethodSerializationLookup(StreamService.method.subscribe, undefined, undefined, limits).getI(options.binary)
  const parse = options.endFlag === undefined ? transformParseEnvelope(serialization) : transformParseEnvelope(serialization, options.endFlag)
  const messages = pipe(body, transformSplitEnvelope(limits.readMaxBytes), transformDecompressEnvelope(options.compression, limits.readMaxBytes), parse)[
    Symbol.asyncIterator
  ]()
  const first = await messages.next()
  if (first.done) throw new ConnectError('protocol error: missing input message for server-streaming method', Code.Unimplemented)
  const second = await messages.next()
  if (!second.done) {
    await messages.return?.()
    throw new ConnectError('protocol error: received extra input message for server-streaming method', Code.Unimplemented)
  }
  return first.value
}
