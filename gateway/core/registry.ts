import { GatewayError } from '../model/errors.ts'
import { validatorFor, type Validator } from './schema.ts'
import type { StreamConfig, Subscription } from './stream-config.ts'

export interface StreamDefinition {
  name: string
  validate: Validator
  canAccess?: (subscription: Subscription, authContext: unknown) => boolean | Promise<boolean>
  historySize: number
}

export const DEFAULT_HISTORY_SIZE = 1000

/** The streams a gateway serves, by name. */
export class StreamRegistry {
  private readonly streams = new Map<string, StreamDefinition>()

  constructor(configs: StreamConfig[]) {
    for (const config of configs) {
      if (typeof config?.name !== 'string' || config.name === '') throw new Error('a stream config needs a name')
      if (this.streams.has(config.name)) throw new Error(`stream "${config.name}" is defined twice`)
      const { historySize = DEFAULT_HISTORY_SIZE } = config
      if (!Number.isSafeInteger(historySize) || historySize < 1) throw new Error(`stream "${config.name}": historySize must be a positive whole number`)
      this.streams.set(config.name, {
        name: config.name,
        validate: validatorFor(config.schema),
        canAccess: config.canAccess,
        historySize,
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
