import type { StreamConfig } from '../../gateway/core/stream-config.ts'

/** The benchmark stream: no schema (any object), as the peers validate nothing either. */
export const config: StreamConfig = {
  name: 'bench',
  baseConfig: { storageType: 'default' },
}
