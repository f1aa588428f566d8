#!/usr/bin/env node
// The real CLI (gateway/cli.ts), as bin/streamgate.mjs runs it, with the instruments of
// test/helpers/instruments.ts: a delay on the store's reads, and GET /test/heap under --expose-gc.
import { register } from 'tsx/esm/api'

register()
const { instrument, extendServer } = await import('./instruments.ts')
instrument()
const { main } = await import('../../gateway/cli.ts')
await main(process.argv.slice(2), extendServer)
