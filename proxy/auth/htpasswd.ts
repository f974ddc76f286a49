// The credentials file: Apache htpasswd format with bcrypt hashes, so `htpasswd -B` and `npm run user:add`
// both write it. A login is `user@tenant`. The file is re-read when it changes (polling its mtime, which
// also catches editors and tools that replace the file by renaming a new one over it).
import { readFileSync, stat, statSync, type Stats } from 'node:fs'

export interface HtpasswdEntry {
  login: string
  user: string
  tenant: string
  hash: string
}

export interface ParsedHtpasswd {
  entries: Map<string, HtpasswdEntry>
  problems: string[]
}

const LOGIN = /^([A-Za-z0-9._~+-]{1,64})@([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)$/
const BCRYPT = /^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/

export function parseLogin(login: string): { user: string; tenant: string } | undefined {
  const match = LOGIN.exec(login)
  return match === null ? undefined : { user: match[1]!, tenant: match[2]! }
}

export function parseHtpasswd(text: string): ParsedHtpasswd {
  const entries = new Map<string, HtpasswdEntry>()
  const problems: string[] = []
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const colon = line.indexOf(':')
    const login = line.slice(0, colon)
    const hash = line.slice(colon + 1)
    const where = `line ${index + 1}`
    if (colon <= 0) return problems.push(`${where}: not "login:hash"`)
    const parsed = parseLogin(login)
    if (parsed === undefined) return problems.push(`${where}: login "${login}" is not user@tenant`)
    if (!BCRYPT.test(hash)) return problems.push(`${where}: ${login} has no bcrypt hash (use htpasswd -B); ignored`)
    if (entries.has(login)) problems.push(`${where}: ${login} appears again; the later line wins`)
    entries.set(login, { login, ...parsed, hash })
    return undefined
  })
  return { entries, problems }
}

export interface HtpasswdStore {
  get(login: string): HtpasswdEntry | undefined
  readonly size: number
  close(): void
}

/** What tells one version of the file from another without reading it. */
const versionOf = (stats: Stats): string => `${stats.ino}:${stats.size}:${stats.mtimeMs}`
const MISSING = 'missing'

/**
 * Loads the file and keeps it current. A missing or unreadable file means no users (every login fails)
 * until it appears; `onReload` reports each load with its problems.
 *
 * Each check compares the file with the version last read, on a timer of its own. fs.watchFile compares each poll
 * with the one before it, and its first poll comes after the first read: a login added in between (a user added
 * right after the proxy started) was never seen.
 */
export function watchHtpasswd(
  path: string,
  onReload: (result: { users: number; problems: string[]; error?: string }) => void,
  { intervalMs = 1000 } = {},
): HtpasswdStore {
  let entries = new Map<string, HtpasswdEntry>()
  let loadedVersion = MISSING
  let closed = false
  const load = (): void => {
    let version = MISSING
    try {
      // Stat before reading: a write between the two is seen as a change at the next check and read again.
      version = versionOf(statSync(path))
      const parsed = parseHtpasswd(readFileSync(path, 'utf8'))
      entries = parsed.entries
      onReload({ users: entries.size, problems: parsed.problems })
    } catch (error) {
      entries = new Map()
      onReload({ users: 0, problems: [], error: (error as Error).message })
    }
    loadedVersion = version
  }
  load()
  const timer = setInterval(() => {
    stat(path, (error, stats) => {
      if (closed) return
      if ((error === null ? versionOf(stats) : MISSING) !== loadedVersion) load()
    })
  }, intervalMs)
  timer.unref()
  return {
    get: login => entries.get(login),
    get size() {
      return entries.size
    },
    close: () => {
      closed = true
      clearInterval(timer)
    },
  }
}
