import * as grpc from '@grpc/grpc-js'
import { HttpConn } from './http-conn.ts'
import { loadStreamService, toStruct } from './proto.ts'

/**
 * How each system is written to: over its natural API, one HTTP request per write, the same shape for all.
 * - `rest`: streamgate's REST `PUT /streams/{s}/{g}/{id}` (body = the item);
 * - `rest-if-match`: the same PUT as a read-modify-write would send it: `If-Match` with the version the
 *   lane's previous write of the item answered (`ETag`; the first write of an item has none) and a fresh
 *   `Idempotency-Key`, so the store checks the version and remembers the key on every write;
 * - `raw`: the raw peers' identical `PUT /streams/{s}/{g}/{id}` trigger (it broadcasts the body);
 * - `motia`: the Motia reference server's control API `POST /__ref/{s}/{g}/{id}` (stream.set in process);
 * - `connect`: streamgate's Connect unary `Set` (JSON over HTTP/1.1);
 * - `grpc`: gRPC unary `Set` through @grpc/grpc-js.
 */
export type WriteKind = 'rest' | 'rest-if-match' | 'raw' | 'motia' | 'connect' | 'grpc'

export interface WriteTarget {
  kind: WriteKind
  host: string
  port: number
}

export interface Lane {
  /** Writes one item; rejects on a transport error or a non-2xx answer. */
  write(streamName: string, groupId: string, id: string, body: string): Promise<void>
  close(): void
}

const enc = encodeURIComponent

export function openLane(target: WriteTarget): Lane {
  if (target.kind === 'grpc') return grpcLane(target)
  const conn = new HttpConn(target.host, target.port)
  const check = (result: { status: number; body: Buffer }) => {
    if (result.status < 200 || result.status >= 300) throw new Error(`write failed: HTTP ${result.status} ${result.body.toString().slice(0, 200)}`)
  }
  switch (target.kind) {
    case 'rest':
    case 'raw':
      return {
        write: (s, g, id, body) => conn.request('PUT', `/streams/${enc(s)}/${enc(g)}/${enc(id)}`, body).then(check),
        close: () => conn.close(),
      }
    case 'rest-if-match': {
      const versions = new Map<string, string>()
      let keys = 0
      const lane = `${process.pid}-${Math.random().toString(36).slice(2)}`
      return {
        write: async (s, g, id, body) => {
          const at = `/streams/${enc(s)}/${enc(g)}/${enc(id)}`
          const version = versions.get(at)
          const headers = `${version ? `If-Match: ${version}\r\n` : ''}Idempotency-Key: ${lane}-${++keys}\r\n`
          const result = await conn.request('PUT', at, body, 'application/json', headers)
          check(result)
          const etag = /^etag: *(\S+)/m.exec(result.head)
          if (!etag) throw new Error('write answered without an ETag')
          versions.set(at, etag[1]!)
        },
        close: () => conn.close(),
      }
    }
    case 'motia':
      return {
        write: (s, g, id, body) => conn.request('POST', `/__ref/${enc(s)}/${enc(g)}/${enc(id)}`, body).then(check),
        close: () => conn.close(),
      }
    case 'connect':
      return {
        write: (s, g, id, body) =>
          conn
            .request('POST', '/streamgate.v1.StreamService/Set', `{"streamName":${JSON.stringify(s)},"groupId":${JSON.stringify(g)},"id":${JSON.stringify(id)},"data":${body}}`)
            .then(check),
        close: () => conn.close(),
      }
  }
}

type SetClient = grpc.Client & {
  Set(request: unknown, callback: (error: grpc.ServiceError | null) => void): void
}

function grpcLane(target: WriteTarget): Lane {
  const Client = grpc.makeGenericClientConstructor(loadStreamService(), 'StreamService')
  const client = new Client(`${target.host}:${target.port}`, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
  }) as unknown as SetClient
  return {
    write: (streamName, groupId, id, body) =>
      new Promise<void>((resolve, reject) =>
        client.Set({ streamName, groupId, id, data: toStruct(JSON.parse(body)) }, (error) => (error ? reject(error) : resolve())),
      ),
    close: () => client.close(),
  }
}
