import type { ConnectError } from '@connectrpc/connect'
import { encodeEnvelope } from '@connectrpc/connect/protocol'
import * as connect from '@connectrpc/connect/protocol-connect'
import * as grpc from '@connectrpc/connect/protocol-grpc'
import * as grpcWeb from '@connectrpc/connect/protocol-grpc-web'

type ParsedTimeout = { timeoutMs?: number; error?: ConnectError }

/**
 * What differs between the three protocols for a server-streaming call, each part taken from connect-es's
 * own protocol helpers so that a Subscribe served outside its generic handler behaves as inside it. The
 * message envelope (flags, 4-byte length, message) is the same in all three.
 */
export interface SubscribeProtocol {
  /** The codec a request's content type asks for; undefined when this protocol does not serve it. */
  codec(contentType: string): { binary: boolean } | undefined
  responseContentType(binary: boolean): string
  /** Request headers, lower-cased as Node gives them. */
  readonly headers: { timeout: string; encoding: string; acceptEncoding: string }
  parseTimeout(value: string | null): ParsedTimeout
  /** Request envelopes with this flag carry no message (gRPC-Web's trailers, Connect's end of stream): skipped. */
  readonly endFlag?: number
  /** How a call ends, well or with `error`: its trailers (gRPC) or its last envelope (gRPC-Web, Connect). */
  end(error: ConnectError | undefined): { trailers?: Headers; envelope?: Uint8Array }
}

const lower = (names: { timeout: string; encoding: string; acceptEncoding: string }) => ({
  timeout: names.timeout.toLowerCase(),
  encoding: names.encoding.toLowerCase(),
  acceptEncoding: names.acceptEncoding.toLowerCase(),
})

const grpcProtocol: SubscribeProtocol = {
  codec: (contentType) => grpc.parseContentType(contentType),
  responseContentType: (binary) => (binary ? grpc.contentTypeProto : grpc.contentTypeJson),
  headers: lower({ timeout: grpc.headerTimeout, encoding: grpc.headerEncoding, acceptEncoding: grpc.headerAcceptEncoding }),
  parseTimeout: (value) => grpc.parseTimeout(value, Number.MAX_SAFE_INTEGER),
  end: (error) => ({ trailers: grpc.setTrailerStatus(new Headers(), error) }),
}

const grpcWebProtocol: SubscribeProtocol = {
  // grpc-web-text (base64 bodies) is not served, as by connect-es.
  codec: (contentType) => {
    const type = grpcWeb.parseContentType(contentType)
    return type && !type.text ? { binary: type.binary } : undefined
  },
  responseContentType: (binary) => (binary ? grpcWeb.contentTypeProto : grpcWeb.contentTypeJson),
  headers: lower({ timeout: grpcWeb.headerTimeout, encoding: grpcWeb.headerEncoding, acceptEncoding: grpcWeb.headerAcceptEncoding }),
  parseTimeout: (value) => grpcWeb.parseTimeout(value, Number.MAX_SAFE_INTEGER),
  endFlag: grpcWeb.trailerFlag,
  end: (error) => ({ envelope: encodeEnvelope(grpcWeb.trailerFlag, grpcWeb.trailerSerialize(grpcWeb.setTrailerStatus(new Headers(), error))) }),
}

const endStream = connect.createEndStreamSerialization(undefined)

const connectProtocol: SubscribeProtocol = {
  codec: (contentType) => {
    const type = connect.parseContentType(contentType)
    return type?.stream ? { binary: type.binary } : undefined
  },
  responseContentType: (binary) => (binary ? connect.contentTypeStreamProto : connect.contentTypeStreamJson),
  headers: lower({ timeout: connect.headerTimeout, encoding: connect.headerStreamEncoding, acceptEncoding: connect.headerStreamAcceptEncoding }),
  parseTimeout: (value) => connect.parseTimeout(value, Number.MAX_SAFE_INTEGER),
  endFlag: connect.endStreamFlag,
  end: (error) => ({ envelope: encodeEnvelope(connect.endStreamFlag, endStream.serialize({ metadata: new Headers(), error })) }),
}

const PROTOCOLS = [grpcProtocol, grpcWebProtocol, connectProtocol]

/** The protocol and codec of a request, from its content type; undefined: 415, as connect-es answers. */
export function negotiate(contentType: string): { protocol: SubscribeProtocol; binary: boolean } | undefined {
  for (const protocol of PROTOCOLS) {
    const codec = protocol.codec(contentType)
    if (codec) return { protocol, binary: codec.binary }
  }
  return undefined
}
