import type { Frame } from './raw-ws.ts'

export interface SseMessage {
  id?: string
  data: string
  frame: Frame
}

/**
 * A plain fetch-based SSE reader that records every message, comment and `retry:` exactly as sent, for
 * asserting wire behaviour (Node's `eventsource` package is used where automatic reconnects matter).
 */
export async function sseRead(url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController()
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal })
  const messages: SseMessage[] = []
  const comments: string[] = []
  const retries: number[] = []
  let ended = false
  const done = (async () => {
    if (!response.ok || !response.body) return
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true })
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          let id: string | undefined
          const data: string[] = []
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim())
            else if (line.startsWith('id: ')) id = line.slice(4)
            else if (line.startsWith('data: ')) data.push(line.slice(6))
            else if (line.startsWith('retry: ')) retries.push(Number(line.slice(7)))
          }
          if (data.length) messages.push({ id, data: data.join('\n'), frame: JSON.parse(data.join('\n')) })
        }
      }
    } catch {
      // aborted by close()
    }
    ended = true
  })()
  return {
    response,
    messages,
    comments,
    retries,
    done,
    get ended() {
      return ended
    },
    close: () => controller.abort(),
  }
}

/** The sequence number in a single-group resume token `<epoch>.<seq>`. */
export const seqOf = (token: string | undefined) => Number(token?.split('.').at(-1))
export const epochOf = (token: string | undefined) => token?.split('.')[0]
