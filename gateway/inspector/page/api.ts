import type { InspectorStatus } from '../status.ts'
import type { JsonValue, Violation } from './field-values.ts'

/** A refusal as the gateway words it (`{code, message, details}`), or an unreachable gateway (status 0). */
export interface ApiError {
  status: number
  code: string
  message: string
  details: Violation[]
}

export type ApiResult<T> = { ok: true; status: number; body: T; headers: Headers } | { ok: false; error: ApiError }

export interface GroupInfo {
  groupId: string
  items: number
}

const path = (...segments: string[]) => segments.map(encodeURIComponent).join('/')

async function errorOf(response: Response): Promise<ApiError> {
  const fallback = { status: response.status, code: `HTTP_${response.status}`, message: `HTTP ${response.status}`, details: [] }
  try {
    const body = (await response.json()) as Partial<ApiError>
    return {
      ...fallback,
      code: typeof body.code === 'string' ? body.code : fallback.code,
      message: typeof body.message === 'string' ? body.message : fallback.message,
      details: Array.isArray(body.details) ? body.details.filter((d): d is Violation => typeof d?.path === 'string' && typeof d?.message === 'string') : [],
    }
  } catch {
    return fallback
  }
}

/** The gateway's REST API and the inspector's status, every call with the user's token. */
export class Api {
  /** Called with every 401, so the page can ask for another token. */
  onUnauthenticated: (error: ApiError) => void = () => {}

  constructor(private readonly token: string | undefined) {}

  async call<T>(method: string, target: string, body?: unknown): Promise<ApiResult<T>> {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (this.token) headers.authorization = `Bearer ${this.token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    let response: Response
    try {
      response = await fetch(target, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    } catch {
      return { ok: false, error: { status: 0, code: 'UNAVAILABLE', message: 'the gateway cannot be reached', details: [] } }
    }
    if (!response.ok) {
      const error = await errorOf(response)
      if (response.status === 401) this.onUnauthenticated(error)
      return { ok: false, error }
    }
    return { ok: true, status: response.status, body: (await response.json()) as T, headers: response.headers }
  }

  status = () => this.call<InspectorStatus>('GET', '/inspector/status')
  streams = () => this.call<{ streams: Array<{ name: string }> }>('GET', '/streams')
  groups = (stream: string, limit: number) => this.call<GroupInfo[]>('GET', `/streams/${path(stream)}?limit=${limit}`)
  put = (stream: string, group: string, id: string, data: { [key: string]: JsonValue }) =>
    this.call<{ id: string }>('PUT', `/streams/${path(stream, group, id)}`, data)
  remove = (stream: string, group: string, id: string) => this.call<{ id: string }>('DELETE', `/streams/${path(stream, group, id)}`)
  send = (stream: string, group: string, id: string | undefined, type: string, data: JsonValue | undefined) =>
    this.call<{ timestamp: number }>('POST', `/streams/${id ? path(stream, group, id) : path(stream, group)}/events`, { type, data })
}
