import { StreamConfig } from 'motia'
import { z } from 'zod'

export const config: StreamConfig = {
  name: 'openai',
  schema: z.object({ message: z.string() }),
  baseConfig: { storageType: 'default' },
}
