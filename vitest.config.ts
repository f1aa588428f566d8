import { defineConfig } from 'vitest/config'

/**
 * Tests that run in the test process alone (a gateway on loopback at most): no browser, Redis, Python,
 * Motia server or child process. test/run.sh runs them on every supported Node line, the rest on the newest.
 */
const IN_PROCESS = [
  'test/cli-options.test.ts',
  'test/client-sse.test.ts',
  'test/client-unit.test.ts',
  'test/connect-errors.test.ts',
  'test/connect-reflection-tls.test.ts',
  'test/connect-streaming.test.ts',
  'test/connect-transports.test.ts',
  'test/motia-clients.test.ts',
  'test/openapi.test.ts',
  'test/operations.test.ts',
  'test/rest-api.test.ts',
  'test/sse.test.ts',
  'test/streams-and-schemas.test.ts',
  'test/websocket-protocol.test.ts',
]

export default defineConfig({
  test: {
    // Motia's browser client 0.2.2 ships extension-less ESM that only a bundler resolves: let Vite do it.
    server: { deps: { inline: [/@motiadev\/stream-client-browser/, /motia-browser-0\.17/] } },
    // The Motia browser client needs a global WebSocket, which Node 20 has only behind this flag.
    execArgv: ['--experimental-websocket'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      // Unit tests that live next to their code (gateway/**) are in-process too.
      { extends: true, test: { name: 'unit', include: [...IN_PROCESS, 'gateway/**/*.test.ts'] } },
      { extends: true, test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: IN_PROCESS } },
    ],
  },
})
