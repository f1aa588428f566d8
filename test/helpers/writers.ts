import { Code, ConnectError } from '@connectrpc/connect'
import { createConnectTransport } from '@connectrpc/connect-node'
import type { JsonObject, JsonValue } from '@bufbuild/protobuf'
import { grpcJsClient, grpcUnary, hostPort, jsonValue, streamClient, toGrpcStruct, toGrpcValue } from './connect-clients.ts'
import { rawRequest } from './http-clients.ts'

/**
 * What a write came back with: accepted, or refused with the contract's code. `UNDECODABLE`: a binary
 * protobuf request nested past what protobuf reads (100 message levels, about 50 JSON levels) never reaches
 * the core: grpc-js refuses to encode it, or the gateway's decoder refuses it with INTERNAL, as gRPC servers do.
 */
export type Verdict = 'accepted' | 'UNDECODABLE' | 'INVALID_ARGUMENT' | 'NOT_FOUND' | 'PAYLOAD_TOO_LARGE' | 'UNAUTHENTICATED' | 'PERMISSION_DENIED' | 'RESOURCE_EXHAUSTED' | 'INTERNAL' | 'UNAVAILABLE'

export interface Writer {
  name: string
  /** Carries lone surrogates as they are (JSON escapes them); protobuf's binary codec cannot. */
  carriesLoneSurrogates: boolean
  /** Can name an empty group or item (REST paths cannot: an empty segment is another route). */
  carriesEmptyNames: boolean
  set(streamName: string, groupId: string, id: string, data: Record<string, unknown>): Promise<Verdict>
  send(streamName: string, groupId: string, id: string | undefined, type: string, data: unknown): Promise<Verdict>
  close(): void
}

const CONNECT_VERDICT: Partial<Record<Code, Verdict>> = {
  [Code.InvalidArgument]: 'INVALID_ARGUMENT',
  [Code.NotFound]: 'NOT_FOUND',
  [Code.Unauthenticated]: 'UNAUTHENTICATED',
  [Code.PermissionDenied]: 'PERMISSION_DENIED',
  [Code.Internal]: 'INTERNAL',
  [Code.Unavailable]: 'UNAVAILABLE',
}

/** A refusal as the contract names it; Connect's RESOURCE_EXHAUSTED says which limit in its metadata. */
function connectVerdict(error: unknown): Verdict {
  const failure = ConnectError.from(error)
  if (failure.code === Code.Internal && failure.rawMessage.startsWith('parse binary: ')) return 'UNDECODABLE'
  if (failure.code === Code.ResourceExhausted) return (failure.metadata.get('streamgate-error-code') as Verdict | null) ?? 'RESOURCE_EXHAUSTED'
  return CONNECT_VERDICT[failure.code] ?? (`UNEXPECTED ${Code[failure.code]}: ${failure.message}` as Verdict)
}

/**
 * Percent-encodes a name for a REST path. A lone surrogate has no UTF-8 form: it is sent as the three bytes
 * WTF-8 would give it, which is what a careless client sends and what the gateway must refuse.
 */
export function pathSegment(name: string): string {
  try {
    return encodeURIComponent(name).replace(/\./g, '%2E')
  } catch {
    return [...name]
      .map((c) => {
        const code = c.codePointAt(0)!
        if (code < 0xd800 || code > 0xdfff) return encodeURIComponent(c).replace(/\./g, '%2E')
        return [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('')
      })
      .join('')
  }
}

async function restVerdict(answer: Promise<{ status: number; json?: any }>): Promise<Verdict> {
  const { status, json } = await answer
  if (status >= 200 && status < 300) return 'accepted'
  return (json?.code as Verdict | undefined) ?? (`UNEXPECTED ${status}` as Verdict)
}

const jsonHeaders = { 'content-type': 'application/json' }

/** Every way a backend writes to the gateway from outside: REST, Connect (binary and JSON), gRPC (@grpc/grpc-js). */
export function everyWriter(url: string): Writer[] {
  const port = Number(new URL(url).port)
  const rest: Writer = {
    name: 'REST',
    carriesLoneSurrogates: true,
    carriesEmptyNames: false,
    set: (s, g, id, data) => restVerdict(rawRequest(port, 'PUT', `/streams/${pathSegment(s)}/${pathSegment(g)}/${pathSegment(id)}`, jsonHeaders, JSON.stringify(data))),
    send: (s, g, id, type, data) =>
      restVerdict(rawRequest(port, 'POST', `/streams/${pathSegment(s)}/${pathSegment(g)}${id === undefined ? '' : `/${pathSegment(id)}`}/events`, jsonHeaders, JSON.stringify({ type, data }))),
    close: () => {},
  }
  const connect = (name: string, useBinaryFormat: boolean, httpVersion: '1.1' | '2'): Writer => {
    const client = streamClient(createConnectTransport({ baseUrl: url, httpVersion, useBinaryFormat }))
    return {
      name,
      carriesLoneSurrogates: !useBinaryFormat,
      carriesEmptyNames: true,
      set: (streamName, groupId, id, data) => client.set({ streamName, groupId, id, data: data as JsonObject }).then(() => 'accepted' as const, connectVerdict),
      send: (streamName, groupId, id, type, data) =>
        client.send({ streamName, groupId, id: id ?? '', type, data: jsonValue(data as JsonValue) }).then(() => 'accepted' as const, connectVerdict),
      close: () => {},
    }
  }
  const grpcJs = grpcJsClient(hostPort(url))
  const grpcVerdict = (error: { code: number; details?: string; metadata?: { get(key: string): unknown[] } }): Verdict => {
    // connect-es percent-encodes ':' in grpc-message and grpc-js does not decode it.
    if (error.code === Code.Internal && /^(parse binary(:|%3A) |Request message serialization failure)/.test(error.details ?? '')) return 'UNDECODABLE'
    if (error.code === Code.ResourceExhausted) return (error.metadata?.get('streamgate-error-code')[0] as Verdict) ?? 'RESOURCE_EXHAUSTED'
    return CONNECT_VERDICT[error.code as Code] ?? (`UNEXPECTED ${error.code}` as Verdict)
  }
  const grpc: Writer = {
    name: 'gRPC (@grpc/grpc-js)',
    carriesLoneSurrogates: false,
    carriesEmptyNames: true,
    set: (streamName, groupId, id, data) => grpcUnary(grpcJs, 'Set', { streamName, groupId, id, data: toGrpcStruct(data as JsonObject) }).then(() => 'accepted' as const, grpcVerdict),
    send: (streamName, groupId, id, type, data) =>
      grpcUnary(grpcJs, 'Send', { streamName, groupId, id: id ?? '', type, data: toGrpcValue(data as JsonValue) }).then(() => 'accepted' as const, grpcVerdict),
    close: () => grpcJs.close(),
  }
  return [rest, connect('Connect binary, HTTP/2', true, '2'), connect('Connect JSON, HTTP/1.1', false, '1.1'), grpc]
}
