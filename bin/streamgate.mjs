#!/usr/bin/env node
// The gateway ships as TypeScript run through tsx, which also loads users' *.stream.ts files.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../gateway/cli.ts')
await main(process.argv.slice(2))
