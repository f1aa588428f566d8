import type { LogRecord } from '../model/records.ts'
import type { WireFormat } from './wire.ts'

/** A record on its way to subscribers, with its bytes in each wire format, encoded once for all of them. */
export class Delivery {
  private readonly encoded: Array<Buffer | undefined> = []

  constructor(readonly record: LogRecord) {}

  bytes(format: WireFormat): Buffer {
    return (this.encoded[format.slot] ??= format.record(this.record, 1))
  }
}

const deliveries = new WeakMap<LogRecord, Delivery>()

/** The same record object (the hub's, a memory store's history) gets the same encodings. */
export function deliveryOf(record: LogRecord): Delivery {
  let delivery = deliveries.get(record)
  if (!delivery) deliveries.set(record, (delivery = new Delivery(record)))
  return delivery
}
