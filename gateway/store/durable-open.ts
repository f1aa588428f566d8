import { randomBytes } from 'node:crypto'
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs'
import { uptime } from 'node:os'
import { join, resolve } from 'node:path'
import { open as openLmdb, type RootDatabase } from 'lmdb'
import { DataDirLock } from './data-dir-lock.ts'
import { DATABASES, FORMAT } from './durable-layout.ts'

/** What a data directory may hold: LMDB's two files and the lock socket. */
const OURS = new Set(['data.mdb', 'lock.mdb', 'lock'])

export interface OpenedDataDir {
  env: RootDatabase
  epoch: string
  /** Why the epoch the data had was replaced by a new one (resume tokens from before then reset). */
  replaced?: string
  /** Records a clean stop, closes the environment and releases the directory. */
  close(): Promise<void>
}

/**
 * This process's run, as recorded in the store: the next start compares it with what it finds. A data file
 * with another identity is a copy (a restored backup may be older than tokens clients hold); a run that did
 * not stop cleanly, without fsync, on an earlier boot of the machine may have lost its last acknowledged
 * writes. Either way the seqs after the data's end may be handed out again, so a new epoch starts and every
 * old token resets instead of resuming past a gap.
 */
interface Run {
  /** `<dev>:<inode>` of data.mdb. */
  file: string
  boot: string
  fsync: boolean
  open: boolean
}

/**
 * Creates or opens the data directory, owned by this process from then on. Every way it can be unusable (not
 * a directory, not writable, someone else's files, in use by another process, damaged, written by a newer
 * format) is one line that names it, thrown before anything in it is written.
 */
export async function openDataDir(dataDir: string, fsync: boolean): Promise<OpenedDataDir> {
  const dir = resolve(dataDir)
  try {
    mkdirSync(dir, { recursive: true })
    const foreign = readdirSync(dir).filter((name) => !OURS.has(name))
    if (foreign.length > 0 && !readdirSync(dir).includes('data.mdb')) {
      throw new Error(`it holds other files (${foreign.slice(0, 3).join(', ')}) and no data.mdb: point --data-dir at an empty or a streamgate directory`)
    }
  } catch (error) {
    throw new Error(`cannot use data directory ${dir}: ${reason(error)}`)
  }
  const lock = await DataDirLock.acquire(dir)
  try {
    const file = join(dir, 'data.mdb')
    const existing = sizeOf(file) > 0
    if (existing) {
      const damage = lmdbFileDamage(file)
      if (damage) throw new Error(`data directory ${dir} is damaged: data.mdb ${damage}; nothing was changed (restore it from a backup, or move it away to start empty)`)
    }
    let env: RootDatabase
    try {
      env = openLmdb({ path: dir, maxDbs: 12 })
    } catch (error) {
      throw new Error(`cannot open data directory ${dir}: ${reason(error)}`)
    }
    try {
      const kept = existing ? readEpoch(env, dir) : undefined
      const store = env.openDB({ name: DATABASES.store, encoding: 'json' })
      const run: Run = { file: identity(file), boot: bootId(), fsync, open: true }
      const last = store.get('run') as Run | undefined
      const replaced =
        kept === undefined
          ? undefined
          : last?.file !== run.file
            ? 'data.mdb is a copy (restored from a backup, or copied here)'
            : last.open && !last.fsync && last.boot !== run.boot
              ? 'the machine restarted while streamgate ran without --fsync, so its last acknowledged writes may be lost'
              : undefined
      const epoch = kept !== undefined && !replaced ? kept : randomBytes(9).toString('base64url')
      env.transactionSync(() => {
        store.putSync('format', FORMAT)
        store.putSync('epoch', epoch)
        store.putSync('run', run)
      })
      const close = async () => {
        try {
          await store.put('run', { ...run, open: false })
        } catch {
          // A store that cannot write any more stops as after a crash.
        }
        await env.close()
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

const identity = (file: string) => {
  const stat = statSync(file, { bigint: true })
  return `${stat.dev}:${stat.ino}`
}

/** Linux names each boot; elsewhere the boot time, to the minute, stands in for it. */
function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    return `boot-at-${Math.round(Date.now() / 60_000 - uptime() / 60)}`
  }
}

/**
 * LMDB trusts its file: a truncated or overwritten data.mdb makes it read outside the file (SIGBUS) or follow
 * garbage (SIGSEGV), a crash on every start. So its two meta pages are checked first (the MDB_meta layout of
 * the LMDB that lmdb-js bundles: a 24-byte page header, then magic, version, the free and main databases'
 * records, the last page number and the transaction id). A bit flip inside a data page is not detected: LMDB
 * has no page checksums.
 */
function lmdbFileDamage(file: string): string | undefined {
  const META = 0x08
  const MAGIC = 0xbeefc0de
  const fd = openSync(file, 'r')
  try {
    const size = statSync(file).size
    const head = Buffer.alloc(160)
    if (readSync(fd, head, 0, head.length, 0) < head.length) return 'is too short to be an LMDB file'
    const pageSize = head.readUInt32LE(48)
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return 'is not an LMDB file (no valid meta page)'
    if (size < 2 * pageSize) return 'is too short to be an LMDB file'
    for (const page of [0, 1]) {
      const meta = Buffer.alloc(160)
      readSync(fd, meta, 0, meta.length, page * pageSize)
      if ((meta.readUInt16LE(18) & META) === 0 || meta.readUInt32LE(24) !== MAGIC) return `is not an LMDB file (meta page ${page} is not valid)`
      const lastPage = Number(meta.readBigUInt64LE(144))
      if ((lastPage + 1) * pageSize > size) return `is truncated (${size} bytes, its meta page ${page} needs ${(lastPage + 1) * pageSize})`
    }
    return undefined
  } finally {
    closeSync(fd)
  }
}
