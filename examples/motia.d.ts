// Lets `import { StreamConfig } from 'motia'` type-check in stream files without the motia package; at run
// time the import is type-only and disappears.
declare module 'motia' {
  export type { StreamConfig } from '../gateway/core/stream-config.ts'
}
