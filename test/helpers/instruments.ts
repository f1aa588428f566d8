import { getHeapSpaceStatistics } from 'node:v8'
import { MemoryStore } from '../../gateway/store/memory-store.ts'
import { RedisStore } from '../../gateway/store/redis-store.ts'
import type { StreamgateServer } from '../../gateway/server.ts'

/**
 * What test/helpers/instrumented-gateway.mjs adds to the real gateway process, each off unless asked for:
 * - SLOW_STORE_MS: the reads a subscription's setup awaits (`history`, `snapshot`) of the real store, memory
 *   or Redis, wait that long first, so a test can drop the connection while they are in flight;
 * - with `node --expose-gc`, GET /test/heap collects garbage and answers the bytes of data still in use.
 */
export function instrument() {
  const delay = Number(process.env.SLOW_STORE_MS ?? 0)
  if (delay <= 0) return
  for (const store of [MemoryStore.prototype, RedisStore.prototype]) {
    for (const method of ['history', 'snapshot'] as const) {
      const real = store[method] as (...args: unknown[]) => Promise<unknown>
      Object.defineProperty(store, method, {
        value: async function (this: unknown, ...args: unknown[]) {
          await new Promise((resolve) => setTimeout(resolve, delay))
          return real.apply(this, args)
        },
      })
    }
  }
}

export async function extendServer(server: StreamgateServer) {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) return
  server.app.get('/test/heap', async () => {
    // Two passes: the first may only queue finalizers (WeakMaps of encoded frames) that free more.
    gc()
    await new Promise((resolve) => setImmediate(resolve))
    gc()
    // Data only: the code spaces grow and shrink with the JIT, whatever the traffic. Buffers (encoded frames)
    // live outside the JavaScript heap.
    const data = getHeapSpaceStatistics()
      .filter((space) => !space.space_name.startsWith('code'))
      .reduce((sum, space) => sum + space.space_used_size, 0)
    return { retained: data + process.memoryUsage().arrayBuffers }
  })
}
