// The benchmark stream: no schema (any object), as the peers validate nothing either. JavaScript, so the
// gateway under test loads no TypeScript loader.
/** @type {import('../../gateway/core/stream-config.ts').StreamConfig} */
export const config = {
  name: 'bench',
  baseConfig: { storageType: 'default' },
}
