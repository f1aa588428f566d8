import type { GatewayError } from '../model/errors.ts'
import type { Address, LogRecord, Snapshot } from '../model/records.ts'
import type { Disconnect } from './disconnect.ts'

/**
 * How a transport turns the core's frames into bytes for its wire. The core calls each encoder once per
 * record (or per sync of a group at one position) and hands the same bytes to every connection of the format.
 */
export interface WireFormat {
  /** The format's place in the core's encode cache; from `defineWireFormat`. */
  readonly slot: number
  readonly name: string
  /** A change or custom event. `conflated` > 1: the frame stands for that many merged changes of one item. */
  record(record: LogRecord, conflated: number): Buffer
  /** A subscription's state; `reset` when a resume token could not be honoured. */
  sync(address: Address, snapshot: Snapshot, reset: boolean): Buffer
  /**
   * For formats whose frames name the whole connection's position (SSE over several groups): the bytes
   * that go before each frame, given the connection's resume token after that frame.
   */
  position?(token: string): Buffer
}

let slots = 0

export const defineWireFormat = (encoders: Omit<WireFormat, 'slot'>): WireFormat => ({ ...encoders, slot: slots++ })

/** How the core reaches one client connection; each transport implements it over its socket or stream. */
export interface Wire {
  /**
   * The frames of one delivery round, in order, to leave in one write. Returns false when the socket is past
   * its high-water mark: the core then keeps later frames (and may conflate them) until `Session.writable()`.
   */
  write(frames: Buffer[]): boolean
  /** A subscription was refused; the connection stays (Motia's error event, an HTTP status, a call error). */
  refused(subscriptionId: string, address: Address, error: GatewayError): void
  /** The core ends the connection; called once, and nothing is written after it. */
  close(reason: Disconnect): void
}
