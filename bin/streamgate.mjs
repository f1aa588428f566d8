#!/usr/bin/env node
// The compiled gateway (dist/, written by `npm run build`). tsx is loaded only for TypeScript stream or
// config files.
const { main } = await import('../dist/gateway/cli.js').catch((error) => {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('dist/gateway/cli.js')) throw error
  console.error('streamgate: dist/ is missing: run `npm run build` in this checkout first')
  process.exit(1)
})
await main(process.argv.slice(2))
