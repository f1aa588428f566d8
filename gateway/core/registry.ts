import { GatewayError } from '../model/errors.ts'
import { validatorFor, type Validator } from './schema.ts'
import type { HistoryLimit } from '../store/store.ts'
import type { StreamConfig, Subscription } from './stream-config.ts'

export interface StreamDefinition {
  name: string
  validate: Validator
  canAccess?: (subscription: Subscription, authContext: unknown) => boolean | Promise<boolean>
  history: HistoryLimit
}

export const DEFAULT_HISTORY: HistoryLimit = { records: 1000, bytes: 8 * 1024 * 1024 }

const positive = (name: string, field: string, value: number) => {
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`stream "${name}": ${field} must be a positive whole number`)
  return value
}

/** The streams a gateway serves, by name. */
export class StreamRegistry {
  private readonly streams = new Map<string, StreamDefinition>()

  constructor(configs: StreamConfig[]) {
    for (const config of configs) {
      if (typeof config?.name !== 'string' || config.name === '') throw new Error('a stream config needs a name')
      if (this.streams.has(config.name)) throw new Error(`stream "${config.name}" is defined twice`)
      const { historySize = DEFAULT_HISTORY.records, historyBytes = DEFAULT_HISTORY.bytes } = config
      this.streams.set(config.name, {
        name: config.name,
        validate: validatorFor(config.schema),
        canAccess: config.canAccess,
        history: { records: positive(config.name, 'historySize', historySize), bytes: positive(config.name, 'historyBytes', historyBytes) },
      })
    }
  }

  get(name: string): StreamDefinition {
    const stream = this.streams.get(name)
    if (!stream) throw new GatewayError('NOT_FOUND', `stream "${name}" is not defined`)
    return stream
  }

  names(): string[] {
    return [...this.streams.keys()]
  }
}
