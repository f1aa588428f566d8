import { spawnSync } from 'node:child_process'
import { closeSync, openSync, readSync, statSync } from 'node:fs'

/**
 * LMDB trusts its file: a truncated or overwritten data.mdb makes it read outside the file (SIGBUS) or follow
 * garbage (SIGSEGV), a crash on every start. So its two meta pages are checked first (the MDB_meta layout of
 * the LMDB that lmdb-js bundles: a 24-byte page header, then magic, version, the free and main databases'
 * records, the last page number and the transaction id). A bit flip inside a data page is not detected: LMDB
 * has no page checksums.
 */
export function lmdbFileDamage(file: string): string | undefined {
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

/**
 * Reads every page of every database of the environment in `dir`, in a child process, so that a damaged page
 * (after a power loss without fsync) is a failed child and a clear error, not a crash of the gateway. Used only
 * when the last run stopped uncleanly on an earlier boot: it costs a read of the whole file.
 */
export function lmdbTreeDamage(dir: string): string | undefined {
  const walk = `
    const { open } = await import(process.argv[1])
    const env = open({ path: process.argv[2], readOnly: true, maxDbs: 12 })
    for (const name of [...env.getKeys()]) {
      const db = env.openDB({ name: String(name), encoding: 'binary', keyEncoding: 'binary' })
      for (const entry of db.getRange({})) void entry
    }
    await env.close()`
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', walk, import.meta.resolve('lmdb'), dir], { encoding: 'utf8' })
  if (child.status === 0) return undefined
  const why = child.signal ? `reading it crashed (${child.signal})` : (child.stderr.split('\n').find((line) => /^\w*Error/.test(line)) ?? 'it cannot be read')
  return `has damaged pages: ${why}`
}
