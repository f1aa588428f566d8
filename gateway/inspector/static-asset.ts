import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'

/** A file held in memory, with its gzipped twin when the build made one, and the headers it is served with. */
export interface StaticAsset {
  body: Buffer
  gzip: Buffer | undefined
  headers: Record<string, string>
}

/** A strong ETag from the bytes. */
export const etagOf = (body: Buffer) => `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`

/** Whether `Accept-Encoding` admits gzip (`gzip` or `*`, with a q-value above 0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false
  let wildcard = false
  for (const entry of header.split(',')) {
    const [name = '', ...params] = entry.split(';').map((part) => part.trim().toLowerCase())
    const q = params.find((p) => p.startsWith('q='))
    const allowed = q === undefined || Number(q.slice(2)) > 0
    if (name === 'gzip') return allowed
    if (name === '*') wildcard = allowed
  }
  return wildcard
}

/** Whether `If-None-Match` names this ETag (weakly, as RFC 9110 compares for GET), or is `*`. */
export function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false
  return header.split(',').some((tag) => {
    const t = tag.trim()
    return t === '*' || t.replace(/^W\//, '') === etag
  })
}

export function serveAsset(request: FastifyRequest, reply: FastifyReply, asset: StaticAsset) {
  reply.headers(asset.headers)
  if (matchesEtag(request.headers['if-none-match'], asset.headers.etag!)) return reply.status(304).send()
  if (asset.gzip && acceptsGzip(request.headers['accept-encoding'])) return reply.header('content-encoding', 'gzip').send(asset.gzip)
  return reply.send(asset.body)
}
