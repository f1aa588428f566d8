import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { open as openLmdb, type RootDatabase } from 'lmdb'
import { DataDirLock } from './data-dir-lock.ts'
import { afterLastRun, currentRun, fsyncPath, readRun, RUN_FILES, writeRun } from './data-dir-run.ts'
import { DATABASES, FORMAT } from './durable-layout.ts'
import { lmdbFileDamage, lmdbTreeDamage } from './lmdb-file-check.ts'

/** What a data directory may hold: LMDB's two files, the last run's record and the lock socket. */
const OURS = new Set(['data.mdb', 'lock.mdb', 'lock', ...RUN_FILES])

export interface OpenedDataDir {
  env: RootDatabase
  epoch: string
  /** Why the epoch the data had was replaced by a new one (resume tokens from before then reset). */
  replaced?: string
  /** Records a clean stop, closes the environment and releases the directory. */
  close(): Promise<void>
}

/**
 * Creates or opens the data directory, owned by this process from then on. Every way it can be unusable (not
 * a directory, not writable, someone else's files, in use by another process, damaged, written by a newer
 * format) is one line that names it, thrown before LMDB maps or writes its file.
 */
export async function openDataDir(dataDir: string, fsync: boolean): Promise<OpenedDataDir> {
  const dir = resolve(dataDir)
  try {
    mkdirSync(dir, { recursive: true })
    const names = readdirSync(dir)
    const foreign = names.filter((name) => !OURS.has(name))
    if (foreign.length > 0 && !names.includes('data.mdb')) {
      throw new Error(`it holds other files (${foreign.slice(0, 3).join(', ')}) and no data.mdb: point --data-dir at an empty or a streamgate directory`)
    }
  } catch (error) {
    throw new Error(`cannot use data directory ${dir}: ${reason(error)}`)
  }
  const lock = await DataDirLock.acquire(dir)
  try {
    const file = join(dir, 'data.mdb')
    const existing = sizeOf(file) > 0
    const damaged = (why: string) => new Error(`data directory ${dir} is damaged: data.mdb ${why}; nothing was changed (restore it from a backup, or move it away to start empty)`)
    const after = existing ? afterLastRun(readRun(dir), currentRun(file, fsync)) : { verify: false }
    if (existing) {
      const damage = lmdbFileDamage(file) ?? (after.verify ? lmdbTreeDamage(dir) : undefined)
      if (damage) throw damaged(damage)
    }
    let env: RootDatabase
    try {
      // Without fsync LMDB only writes: a commit is safe from a crash of the process at once, and the run
      // record tells the next start when the machine went down before the disk had it all.
      env = openLmdb({ path: dir, maxDbs: 12, noSync: !fsync })
    } catch (error) {
      throw new Error(`cannot open data directory ${dir}: ${reason(error)}`)
    }
    try {
      const kept = existing ? readEpoch(env, dir) : undefined
      const replaced = kept === undefined ? undefined : after.replaced
      const epoch = kept !== undefined && !replaced ? kept : randomBytes(9).toString('base64url')
      const store = env.openDB({ name: DATABASES.store, encoding: 'json' })
      env.transactionSync(() => {
        store.putSync('format', FORMAT)
        store.putSync('epoch', epoch)
      })
      // The epoch is on the disk before the run is recorded as open; at a clean stop everything is, before it
      // is recorded as closed.
      fsyncPath(file)
      const run = currentRun(file, fsync)
      writeRun(dir, run)
      const close = async () => {
        await env.close()
        try {
          fsyncPath(file)
          writeRun(dir, { ...run, open: false })
        } catch {
          // A directory that cannot be written any more: the next start treats the stop as unclean.
        }
        await lock.release()
      }
      return { env, epoch, replaced, close }
    } catch (error) {
      await env.close()
      throw error
    }
  } catch (error) {
    await lock.release()
    throw error
  }
}

const reason = (error: unknown) => (error as NodeJS.ErrnoException).code ?? (error as Error).message

function sizeOf(file: string) {
  try {
    return statSync(file).size
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0
    throw error
  }
}

function readEpoch(env: RootDatabase, dir: string): string {
  const names = new Set(env.getKeys())
  if (!names.has(DATABASES.store)) throw new Error(`data directory ${dir} holds an LMDB file that streamgate did not write (no "store" database); nothing was changed`)
  const store = env.openDB({ name: DATABASES.store, encoding: 'json' })
  const format = store.get('format')
  const epoch = store.get('epoch')
  if (format !== FORMAT) throw new Error(`data directory ${dir} has format ${String(format)}; this streamgate reads format ${FORMAT}`)
  if (typeof epoch !== 'string') throw new Error(`data directory ${dir} is damaged: it has no epoch; nothing was changed`)
  return epoch
}


