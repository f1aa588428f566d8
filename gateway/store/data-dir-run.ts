import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs'
import { uptime } from 'node:os'
import { join } from 'node:path'

/**
 * The run of the process that owns a data directory, in `<dir>/run.json` beside LMDB's file (so it can be
 * read before LMDB maps a file that may be damaged), written when the store opens and again when it stops
 * cleanly. The next start compares it with what it finds:
 * - a data file with another identity is a copy (a restored backup may be older than the tokens clients hold);
 * - a run that did not stop cleanly, without fsync, on an earlier boot of the machine (a power loss, a kernel
 *   crash) may have lost its last acknowledged writes, and its file may be damaged (without fsync the disk may
 *   have got LMDB's meta page before the pages it points to).
 * Either way the seqs after the data's end may be handed out again, so a new epoch starts and every old token
 * resets instead of resuming past a gap; after an unclean machine stop the file is verified first.
 */
export interface Run {
  /** `<dev>:<inode>` of data.mdb. */
  file: string
  boot: string
  fsync: boolean
  open: boolean
}

const RUN_FILE = 'run.json'
export const RUN_FILES = [RUN_FILE, `${RUN_FILE}.tmp`]

export function currentRun(dataFile: string, fsync: boolean): Run {
  const stat = statSync(dataFile, { bigint: true })
  return { file: `${stat.dev}:${stat.ino}`, boot: bootId(), fsync, open: true }
}

export function readRun(dir: string): Run | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, RUN_FILE), 'utf8')) as Run
  } catch {
    return undefined
  }
}

/** Replaces run.json atomically and durably (temporary file, fsync, rename, fsync of the directory). */
export function writeRun(dir: string, run: Run) {
  const tmp = join(dir, `${RUN_FILE}.tmp`)
  const fd = openSync(tmp, 'w')
  try {
    writeSync(fd, JSON.stringify(run))
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, join(dir, RUN_FILE))
  fsyncPath(dir)
}

/** Waits for the disk to have what was written to a file (or a directory's entries), through any descriptor. */
export function fsyncPath(path: string) {
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** What the last run's record says about the data found now. */
export function afterLastRun(last: Run | undefined, now: Run): { replaced?: string; verify: boolean } {
  if (last?.file !== now.file) return { replaced: 'data.mdb is a copy (restored from a backup, or copied here)', verify: false }
  if (last.open && !last.fsync && last.boot !== now.boot) {
    return { replaced: 'the machine stopped while streamgate ran without --fsync, so its last acknowledged writes may be lost', verify: true }
  }
  return { verify: false }
}

/** Linux names each boot; elsewhere the boot time, to the minute, stands in for it. */
function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    return `boot-at-${Math.round(Date.now() / 60_000 - uptime() / 60)}`
  }
}
