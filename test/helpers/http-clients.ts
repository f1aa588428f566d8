import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'

export interface Answer {
  status: number
  body: string
}

const collect = (resolve: (answer: Answer) => void, status: number) => (response: NodeJS.ReadableStream) => {
  let body = ''
  response.setEncoding('utf8')
  response.on('data', (chunk: string) => (body += chunk))
  response.on('end', () => resolve({ status, body }))
}

/** One GET on a connection of its own, over HTTP/1.1 (TLS when `tls`), with Node's client. */
export function http1Get(port: number, path: string, tls = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port, path, agent: false, rejectUnauthorized: false }
    const request = (tls ? https : http).get(options, (response) => collect(resolve, response.statusCode!)(response))
    request.on('error', reject)
  })
}

/** One GET on an HTTP/2 session of its own (h2c, or h2 by ALPN when `tls`), with Node's client. */
export function http2Get(port: number, path: string, tls = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`${tls ? 'https' : 'http'}://127.0.0.1:${port}`, { rejectUnauthorized: false })
    session.on('error', reject)
    const request = session.request({ ':path': path })
    request.on('error', reject)
    request.on('response', (headers) =>
      collect((answer) => {
        session.close()
        resolve(answer)
      }, Number(headers[':status']))(request),
    )
  })
}

export interface RawAnswer extends Answer {
  headers: http.IncomingHttpHeaders
  /** The body as JSON, when it is JSON. */
  json?: any
}

/**
 * One HTTP/1.1 request exactly as given, with Node's client on a connection of its own: the path is sent
 * as is (no dot-segment or percent normalisation, unlike fetch), headers may repeat (an array value).
 */
export function rawRequest(port: number, method: string, path: string, headers: http.OutgoingHttpHeaders = {}, body?: string | Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    // Node sends a DELETE (or GET) body unframed unless told its length.
    const framing = body === undefined ? {} : { 'content-length': Buffer.byteLength(body) }
    const request = http.request({ host: '127.0.0.1', port, method, path, headers: { ...framing, ...headers }, agent: false }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json
        try {
          json = JSON.parse(text)
        } catch {
          // not JSON
        }
        resolve({ status: response.statusCode!, headers: response.headers, body: text, json })
      })
    })
    request.on('error', reject)
    request.end(body)
  })
}
