// Where ACME state lives (account key, certificates, keys, and challenges in flight) and how one process
// at a time orders a name: certmagic's Storage + Locker, as files under DATA_DIR/acme (0600) here, or in
// Redis (redis-storage.ts) when several proxies share it.
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, rm, stat, utimes, writeFile, chmod } from 'node:fs/promises'
import { dirname, join } from 'node:path'

/** Gives the lock back. */
export type Release = () => Promise<void>

export interface AcmeStorage {
  /** True when other proxies read and write the same store: challenges in flight are put there too. */
  readonly shared: boolean
  get(key: string): Promise<string | undefined>
  put(key: string, value: string): Promise<void>
  delete(key: string): Promise<void>
  /** Waits until no other process holds `name`, then holds it until released (or until this process dies). */
  lock(name: string): Promise<Release>
  close(): Promise<void>
}

/** Keys are built from host names and fixed words only; anything else is a bug, not a path to follow. */
export function checkKey(key: string): string {
  if (/^[a-z0-9][a-z0-9._/-]*$/i.test(key) && !key.includes('..')) return key
  throw new Error(`invalid ACME storage key ${JSON.stringify(key)}`)
}

const LOCK_POLL_MS = 250
/** A lock file not touched for this long belongs to a process that died: it is taken over. */
export const FILE_LOCK_STALE_MS = 30_000
const FILE_LOCK_TOUCH_MS = 5_000

export class FileStorage implements AcmeStorage {
  readonly shared = false
  private readonly touchers = new Set<NodeJS.Timeout>()

  private readonly root: string
  constructor(root: string) {
    this.root = root
  }

  private path(key: string): string {
    return join(this.root, checkKey(key))
  }

  async get(key: string): Promise<string | undefined> {
    try {
      return await readFile(this.path(key), 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
  }

  async put(key: string, value: string): Promise<void> {
    const path = this.path(key)
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    // Written aside and renamed: a reader (or a crash) never sees half a certificate.
    const partial = `${path}.${randomBytes(4).toString('hex')}.tmp`
    await writeFile(partial, value, { mode: 0o600 })
    await chmod(partial, 0o600) // the umask may have taken bits off
    await rename(partial, path)
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true })
  }

  async lock(name: string): Promise<Release> {
    const path = this.path(`locks/${name}.lock`)
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    for (;;) {
      try {
        await writeFile(path, String(process.pid), { flag: 'wx', mode: 0o600 })
        break
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
        const touched = await stat(path).then(
          info => info.mtimeMs,
          () => undefined,
        )
        if (touched !== undefined && Date.now() - touched > FILE_LOCK_STALE_MS) await rm(path, { force: true })
        else await new Promise(resolve => setTimeout(resolve, LOCK_POLL_MS))
      }
    }
    // Touched while held, so a long order is not mistaken for a dead holder.
    const toucher = setInterval(() => {
      utimes(path, new Date(), new Date()).catch(() => {})
    }, FILE_LOCK_TOUCH_MS)
    toucher.unref()
    this.touchers.add(toucher)
    return async () => {
      clearInterval(toucher)
      this.touchers.delete(toucher)
      await rm(path, { force: true })
    }
  }

  async close(): Promise<void> {
    for (const toucher of this.touchers) clearInterval(toucher)
  }
}
