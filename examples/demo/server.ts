// `npm start`: the gateway with the example streams, plus the demo page and Motia's open-ai example
// (examples/demo/demo-routes.ts). Every streamgate flag still works: `npm start -- --port 3001`.
import { main } from '../../gateway/cli.ts'
import { DEMO_STREAMS, demoRoutes } from './demo-routes.ts'

await main(['--streams', DEMO_STREAMS, ...process.argv.slice(2)], (server) => demoRoutes(server))
