import { z } from 'zod'

export const config = {
  name: 'todo',
  schema: z.object({
    title: z.string().min(1),
    done: z.boolean().default(false),
  }),
  baseConfig: { storageType: 'default' },
}
