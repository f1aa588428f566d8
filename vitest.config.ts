import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'gateway/**/*.test.ts'],
    // Motia's browser client 0.2.2 ships extension-less ESM that only a bundler resolves: let Vite do it.
    server: { deps: { inline: [/@motiadev\/stream-client-browser/, /motia-browser-0\.17/] } },
    // The Motia browser client needs a global WebSocket, which Node 20 has only behind this flag.
    execArgv: ['--experimental-websocket'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
