import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest'
import { TestRedis } from '../../test/helpers/redis-server.ts'
import { DurableStore } from './durable-store.ts'
import { MemoryStore } from './memory-store.ts'
import { RedisStore } from './redis-store.ts'
import type { HistoryLimit, Store } from './store.ts'
import { type OpenStore, storeContract } from './store-contract.ts'

const DEFAULT_LIMIT: HistoryLimit = { records: 1000, bytes: 8 * 1024 * 1024 }
const opened: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close()
})

let redis: TestRedis
let prefixes = 0
beforeAll(async () => {
  redis = await TestRedis.start()
})
afterAll(() => redis?.close())

const engines: Record<string, OpenStore> = {
  memory: async (limit = DEFAULT_LIMIT) => new MemoryStore(() => limit),
  durable: async (limit = DEFAULT_LIMIT) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'streamgate-contract-'))
    const store = await DurableStore.open({ dataDir, historyLimit: () => limit })
    opened.push(async () => {
      await store.close()
      rmSync(dataDir, { recursive: true, force: true })
    })
    return store
  },
  redis: async (limit = DEFAULT_LIMIT) => {
    const store: Store = await RedisStore.connect({ url: redis.url, prefix: `contract${++prefixes}:`, historyLimit: () => limit })
    opened.push(() => store.close())
    return store
  },
}

for (const [engine, open] of Object.entries(engines)) {
  describe(`the ${engine} store`, () => {
    for (const contract of storeContract) it(contract.name, () => contract.run(open))
  })
}
