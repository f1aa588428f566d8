import type { Session } from './session.ts'
import { groupKey } from '../model/group-key.ts'
import type { LogRecord } from '../model/records.ts'
import type { Store } from '../store/store.ts'

/**
 * Routes log records to the sessions that follow their group. Delivery runs after the write that produced
 * the record has returned (one drain per turn of the event loop), so a write's latency never includes
 * fan-out, and a burst of writes is delivered as one batch.
 */
export class Hub {
  private readonly groups = new Map<string, Set<Session>>()
  private queue: LogRecord[] = []
  private scheduled = false

  /** The store is told which groups have local subscribers, so a shared store only sends those. */
  constructor(private readonly store: Pick<Store, 'watch' | 'unwatch'>) {}

  add(streamName: string, groupId: string, session: Session) {
    const key = groupKey(streamName, groupId)
    let sessions = this.groups.get(key)
    if (!sessions) {
      this.groups.set(key, (sessions = new Set()))
      this.store.watch(streamName, groupId)
    }
    sessions.add(session)
  }

  remove(streamName: string, groupId: string, session: Session) {
    const key = groupKey(streamName, groupId)
    const sessions = this.groups.get(key)
    if (!sessions?.delete(session) || sessions.size > 0) return
    this.groups.delete(key)
    this.store.unwatch(streamName, groupId)
  }

  /** The group's records may have been missed: every session following it re-syncs. */
  lost(streamName: string, groupId: string) {
    const key = groupKey(streamName, groupId)
    for (const session of this.groups.get(key) ?? []) session.resync(key)
  }

  publish(record: LogRecord) {
    this.queue.push(record)
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(this.drain)
  }

  private readonly drain = () => {
    const batch = this.queue
    this.queue = []
    this.scheduled = false
    for (const record of batch) {
      const key = groupKey(record.streamName, record.groupId)
      const sessions = this.groups.get(key)
      if (sessions) for (const session of sessions) session.offer(key, record)
    }
  }
}
