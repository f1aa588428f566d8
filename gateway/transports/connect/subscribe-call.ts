import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { Code, ConnectError } from '@connectrpc/connect'
import { type Disconnect, disconnectMessage } from '../../core/disconnect.ts'
import type { Session } from '../../core/session.ts'
import type { Wire } from '../../core/wire.ts'
import type { GatewayError } from '../../model/errors.ts'
import { cutExchange, type Exchange } from './call-context.ts'
import { writeRound } from '../write-round.ts'
import { toConnectError } from './errors.ts'
import type { JoinedFrames } from './joined-frames.ts'
import type { SubscribeProtocol } from './subscribe-protocols.ts'

/** The status a call ends with when the core ends it. */
const disconnectCode: Record<Disconnect, Code> = {
  shutdown: Code.Unavailable,
  slow_consumer: Code.ResourceExhausted,
  internal: Code.Internal,
}

const MAX_TIMER_MS = 2 ** 31 - 1

export interface SubscribeCallOptions {
  exchange: Exchange
  protocol: SubscribeProtocol
  binary: boolean
  /** Shared by the calls of one codec: a round's frames joined once for all of them. */
  joined: JoinedFrames
  /** Response headers the app set before the call (CORS). */
  headers: OutgoingHttpHeaders
  /**
   * After its queue limit, how long a subscriber gets to read up to its RESOURCE_EXHAUSTED end before its
   * stream is cut (HTTP/2: RST_STREAM ENHANCE_YOUR_CALM; HTTP/1.1: the connection closes).
   */
  slowConsumerGraceMs: number
  /** Called once when a call that got its session ends, whoever ends it. */
  onRelease(): void
}

/**
 * One Subscribe call as the core's Wire: the core's frames are whole envelopes, encoded once per record for
 * every call of the codec, and each round's go into the HTTP response (on HTTP/2, its stream) in one
 * write. The call ends the protocol's way: trailers (gRPC), a trailer envelope (gRPC-Web) or an end-of-stream
 * envelope (Connect), with the same codes and messages as connect-es's handlers give.
 */
export class SubscribeCall implements Wire {
  private readonly raw: ServerResponse
  private started = false
  private ended = false
  private gone = false
  private released = false
  private session: Session | undefined
  private timers: NodeJS.Timeout[] = []

  constructor(private readonly options: SubscribeCallOptions) {
    // Node's HTTP/2 compatibility response has the HTTP/1.1 response's writing API.
    this.raw = options.exchange.response as ServerResponse
    this.raw.once('close', () => {
      this.gone = true
      for (const timer of this.timers) clearTimeout(timer)
      this.release()
    })
  }

  get done() {
    return this.ended || this.gone
  }

  /** The session the call's frames come from (the call must not be done); it is released when the call ends. */
  attach(session: Session) {
    this.session = session
    this.raw.on('drain', () => session.drained())
  }

  /** Ends the call with DEADLINE_EXCEEDED after `ms`, as connect-es does for a request's timeout. */
  deadline(ms: number) {
    // Node fires longer timers at once; a deadline weeks away is no deadline for a subscription.
    if (ms > MAX_TIMER_MS) return
    this.timers.push(setTimeout(() => this.end(new ConnectError('the operation timed out', Code.DeadlineExceeded)), ms).unref())
  }

  /** Sends the status and headers, once: before the first frame, or once the subscription is live. */
  start() {
    if (this.started || this.done) return
    this.started = true
    const { headers, protocol, binary } = this.options
    this.raw.writeHead(200, { ...headers, 'content-type': protocol.responseContentType(binary) })
  }

  write(frames: Buffer[]): boolean {
    if (this.done) return true
    this.start()
    const raw = this.raw
    const joined = this.options.joined.of(frames)
    return joined ? raw.write(joined) : writeRound(raw, frames)
  }

  refused(_subscriptionId: string, _address: unknown, error: GatewayError) {
    this.end(toConnectError(error))
  }

  close(reason: Disconnect) {
    this.end(new ConnectError(disconnectMessage[reason], disconnectCode[reason]))
    // A client that does not read will not read its error either.
    if (reason === 'slow_consumer') this.timers.push(setTimeout(() => cutExchange(this.options.exchange), this.options.slowConsumerGraceMs).unref())
  }

  /** Ends the call: OK without an error. Frames written before stay ahead of the end. */
  end(error?: ConnectError) {
    if (this.done) return
    this.start()
    this.ended = true
    this.release()
    const { trailers, envelope } = this.options.protocol.end(error)
    if (trailers) this.raw.addTrailers(Object.fromEntries(trailers))
    this.raw.end(envelope)
  }

  /** The session is released once, whether the call ended or its client left. */
  private release() {
    if (this.released) return
    this.released = true
    if (!this.session) return
    this.session.close()
    this.options.onRelease()
  }
}
