// Why a process of `npm run dev` stopped, told from its exit status and last lines as what to do next: a bad
// setting, a port in use (and by what), the embedded database held by another process, or its own last error.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { constants } from 'node:os'
import { basename } from 'node:path'
import type { ChildStop } from './dev-child.ts'

/** What dev exits with for a child's stop: its exit code, or 128 + the signal's number as shells report it. */
export function exitStatus(stop: Pick<ChildStop, 'code' | 'signal'>): number {
  if (stop.code !== null) return stop.code
  return 128 + (stop.signal === null ? 0 : constants.signals[stop.signal])
}

/**
 * One paragraph for the operator. `ports` maps each port setting dev passed on (PORT, PROXY_HTTPS_PORT, …) to
 * its value, so a port in use is named by the variable that moves it.
 */
export function stopReason(name: string, stop: ChildStop, ports: Record<string, string>): string {
  const how = stop.signal !== null ? `killed by ${stop.signal}` : `exit ${stop.code}`
  return `${name} stopped (${how}): ${explain(stop, ports)}`
}

function explain(stop: ChildStop, ports: Record<string, string>): string {
  // "  - PROXY_HTTPS_PORT: must be integer (got "abc")": one line per bad setting (common/env-config.ts).
  const settings = stop.lines
    .map(line => /^\s+- ([A-Z][A-Z0-9_]*: .*)$/.exec(line)?.[1])
    .filter(line => line !== undefined)
  if (stop.code === 78 && settings.length > 0) {
    return `bad setting ${settings.join('; ')}. Fix the variable and start again.`
  }
  const inUse = stop.lines.find(line => line.includes('EADDRINUSE'))
  if (inUse !== undefined) {
    const port = portInUse(inUse)
    const variable = Object.entries(ports).find(([, value]) => value === port)?.[0]
    const holder = describeProcess(listenerOf(Number(port)))
    return (
      `port ${port}${variable === undefined ? '' : ` (${variable})`} is already in use` +
      `${holder === undefined ? '' : ` by ${holder}`}: stop that, or start dev on another port` +
      `${variable === undefined ? '' : `, e.g. ${variable}=${Number(port) + 1} npm run dev`}.`
    )
  }
  const holderPid = stop.lines.map(line => /database in (\S+) is open in process (\d+)/.exec(line)).find(Boolean)
  if (holderPid != null) {
    const [, dataDir, pid] = holderPid
    const holder = describeProcess(Number(pid)) ?? `process ${pid}`
    return (
      `the embedded database in ${dataDir} is held by ${holder} (PGlite admits one process): stop it ` +
      `(kill ${pid}) or give dev another DATA_DIR.`
    )
  }
  return lastError(stop.lines) ?? 'see its output above.'
}

/** The port of an EADDRINUSE: a pino line's err.port, else the end of Node's message ("… in use 127.0.0.1:8443"). */
function portInUse(line: string): string {
  try {
    const port = (JSON.parse(line) as { err?: { port?: unknown } }).err?.port
    if (typeof port === 'number') return String(port)
  } catch {}
  return /EADDRINUSE\D*(?:\S*:)?(\d+)/.exec(line)?.[1] ?? '?'
}

/** The last error it logged: a pino line at level error or fatal, else a line that reads like one. */
function lastError(lines: string[]): string | undefined {
  for (const line of [...lines].reverse()) {
    if (line.startsWith('{')) {
      try {
        const entry = JSON.parse(line) as { level?: number | string; msg?: string; err?: { message?: string } }
        // pino's numbers (50 error, 60 fatal), or its labels when a formatter writes them.
        const level =
          typeof entry.level === 'number' ? entry.level : ['error', 'fatal'].includes(entry.level ?? '') ? 50 : 0
        if (level >= 50) return [entry.msg, entry.err?.message].filter(Boolean).join(': ')
      } catch {}
      continue
    }
    if (/\b(\w*Error|error|cannot|Cannot)\b/.test(line)) return line.trim()
  }
  return lines.findLast(line => line.trim() !== '')?.trim()
}

/** The process listening on a TCP port, from /proc (Linux; only processes this user may inspect). */
function listenerOf(port: number): number | undefined {
  const sockets = new Set<string>()
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = readFileSync(table, 'utf8')
    } catch {
      continue
    }
    for (const row of text.split('\n').slice(1)) {
      // local_address is HEXADDR:HEXPORT; state 0A is LISTEN; the tenth column is the socket's inode.
      const fields = row.trim().split(/\s+/)
      const listening = fields[3] === '0A' && parseInt(fields[1]?.split(':')[1] ?? '', 16) === port
      if (listening) sockets.add(`socket:[${fields[9]}]`)
    }
  }
  if (sockets.size === 0) return undefined
  for (const pid of readdirSync('/proc').filter(entry => /^\d+$/.test(entry))) {
    let fds: string[]
    try {
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      try {
        if (sockets.has(readlinkSync(`/proc/${pid}/fd/${fd}`))) return Number(pid)
      } catch {}
    }
  }
  return undefined
}

/** "process 1234 (node server/main.ts)", or just "process 1234" where its command line cannot be read. */
function describeProcess(pid: number | undefined): string | undefined {
  if (pid === undefined || !Number.isInteger(pid)) return undefined
  let args: string[]
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
  } catch {
    return `process ${pid}`
  }
  // Loader flags make a node command line unreadable: keep the program and what it runs.
  const shown = args.filter(
    (arg, index) => !arg.startsWith('-') && !/^--(import|require|loader)$/.test(args[index - 1] ?? ''),
  )
  const command = shown.map((arg, index) => (index === 0 ? basename(arg) : arg)).join(' ')
  return `process ${pid}${command === '' ? '' : ` (${command.length > 100 ? `${command.slice(0, 99)}…` : command})`}`
}
