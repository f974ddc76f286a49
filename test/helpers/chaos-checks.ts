// What the chaos drill checks once the chaos is over, and how it reports: its journal in a few lines, a dead
// process's last words next to the actions that were running, Node's warnings on stderr, and /proc's view of
// a process's sockets and memory.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import type { JournalEntry } from './chaos-run.ts'
import type { LoggedProcess } from './service-processes.ts'

/** What close-with-grace logs when an uncaught error or rejection sets off a shutdown (both processes). */
export const UNEXPECTED_SHUTDOWN = 'shutting down after an unexpected error'

/** One line per journal entry, for a failure report. */
export function formatEntry(entry: JournalEntry): string {
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)}s`
  const when = `[${seconds(entry.startedAt)}–${entry.endedAt === undefined ? 'running' : seconds(entry.endedAt)}]`
  const notes = entry.notes.length > 0 ? ` (${entry.notes.join('; ')})` : ''
  return `  ${when} client ${entry.client} ${entry.requestId}: ${entry.kind}${notes} → ${entry.outcome ?? 'in flight'}`
}

/** Per misbehaviour: how many ran, and their outcomes, most frequent first. */
export function summarise(journal: JournalEntry[]): string[] {
  const byKind = new Map<string, Map<string, number>>()
  for (const entry of journal) {
    const outcomes = byKind.get(entry.kind) ?? new Map<string, number>()
    // Timings vary run to run: grouped without them.
    const outcome = (entry.outcome ?? 'in flight').replace(/ after \d+ ms/g, '')
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
    byKind.set(entry.kind, outcomes)
  }
  return [...byKind]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, outcomes]) => {
      const total = [...outcomes.values()].reduce((sum, n) => sum + n, 0)
      const top = [...outcomes]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 4)
        .map(([outcome, n]) => `${n}× ${outcome}`)
      return `${kind}: ${total} — ${top.join(' | ')}`
    })
}

/** What a process wrote to stderr that warns or errs (Node's MaxListenersExceededWarning…), with stacks, once each. */
export function alarming(stderr: string): string[] {
  const found = new Set<string>()
  const lines = stderr.split('\n')
  for (const [index, line] of lines.entries()) {
    if (/^\s+at /.test(line) || !/warning|error|exception|unhandled|uncaught/i.test(line)) continue
    const stack = lines.slice(index + 1).findIndex(next => !/^\s+at /.test(next))
    const frames = lines.slice(index + 1, index + 1 + (stack === -1 ? 0 : Math.min(stack, 12)))
    found.add([line.replace(/^\(node:\d+\) /, ''), ...frames].join('\n'))
  }
  return [...found]
}

/** An error-level line the drill accepts, and why it is not a fault. */
export interface ExpectedError {
  test(line: Record<string, unknown>): boolean
  why: string
}

/** Log lines that mean something went wrong inside: fatal, error (unless expected), or an uncaught error's shutdown. */
export function unexpectedLines(service: LoggedProcess, expected: ExpectedError[]): Array<Record<string, unknown>> {
  return service
    .lines()
    .filter(
      line =>
        line.level === 'fatal' ||
        /unexpected error|uncaught|unhandled/i.test(String(line.msg)) ||
        (line.level === 'error' && !expected.some(each => each.test(line))),
    )
}

/** What a failure report needs: the actions in flight when the process died, the last ones before, its last words. */
export interface Death {
  who: string
  service: LoggedProcess
  atMs: number
}

export function deathReport(death: Death, journal: JournalEntry[], seed: number): string {
  // The watcher looks every 100 ms: what was running up to then, and what had ended just before.
  const inFlight = journal.filter(
    entry => entry.startedAt <= death.atMs && (entry.endedAt === undefined || entry.endedAt >= death.atMs - 100),
  )
  const before = journal.filter(entry => entry.startedAt <= death.atMs && !inFlight.includes(entry)).slice(-10)
  const all = death.service.lines()
  // Up to the first error it could not survive: what it logged while draining afterwards is noise.
  const fatal = all.findIndex(line => line.level === 'fatal' || line.msg === UNEXPECTED_SHUTDOWN)
  const lines = fatal === -1 ? all : all.slice(0, fatal + 1)
  const kindOf = new Map(journal.map(entry => [entry.requestId, entry.kind]))
  const annotate = (line: Record<string, unknown>): string => {
    const kind = kindOf.get(String(line.reqId))
    const text = JSON.stringify(line)
    return `  ${text.length > 1200 ? `${text.slice(0, 1200)}…` : text}${kind !== undefined ? `  ← ${kind}` : ''}`
  }
  const errors = all.filter(line => line.level === 'error' || line.level === 'fatal')
  // The fatal error rarely names its request; the requests that went wrong in the seconds before are the suspects.
  const diedAt = Date.parse(String(lines.at(-1)?.time))
  const suspects = new Map<string, string>()
  for (const line of lines) {
    const at = Date.parse(String(line.time))
    if (line.level === 'info' || line.reqId === undefined || !(at >= diedAt - 6000 && at <= diedAt)) continue
    const what = String((line.err as { message?: string } | undefined)?.message ?? line.msg).slice(0, 120)
    suspects.set(`${String(line.reqId)}: ${what}`, kindOf.get(String(line.reqId)) ?? 'the well-behaved client')
  }
  return [
    `the ${death.who} process died ${(death.atMs / 1000).toFixed(1)} s into the chaos; seed ${seed}`,
    `actions in flight when it died (${inFlight.length}):`,
    ...inFlight.map(formatEntry),
    'the last actions that had ended before:',
    ...before.map(formatEntry),
    `its error and fatal log lines (${errors.length}):`,
    ...errors.slice(0, 5).map(annotate),
    'requests it warned about in the 6 s before:',
    ...[...suspects].slice(-20).map(([what, kind]) => `  ${what}  ← ${kind}`),
    'its last log lines before the error that ended it:',
    ...lines.slice(-12).map(annotate),
    'its stderr (end):',
    death.service.stderr().slice(-3000),
  ].join('\n')
}

const TCP_STATES: Record<string, string> = {
  '01': 'ESTABLISHED',
  '02': 'SYN_SENT',
  '03': 'SYN_RECV',
  '04': 'FIN_WAIT1',
  '05': 'FIN_WAIT2',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '09': 'LAST_ACK',
  '0B': 'CLOSING',
}

/** An IPv4 address:port as /proc/net/tcp writes it (the address in host byte order, little-endian here). */
const endpoint = (hex: string): string => {
  const [address, port] = hex.split(':') as [string, string]
  const bytes = address.length === 8 ? Buffer.from(address, 'hex').reverse().join('.') : address
  return `${bytes}:${parseInt(port, 16)}`
}

export interface OpenSockets {
  /** Open file descriptors of the process. */
  fds: number
  /** Its TCP connections on `port` (either end), not listening sockets: state and the far end. */
  connections: Array<{ state: string; peer: string }>
}

/** A process's open file descriptors, and its connections on `port`, read from /proc. */
export function openSockets(pid: number, port: number): OpenSockets {
  const inodes = new Set<string>()
  let fds = 0
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    fds++
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (match !== null) inodes.add(match[1]!)
    } catch {
      /* closed meanwhile */
    }
  }
  const connections: OpenSockets['connections'] = []
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields.length < 10 || fields[3] === '0A' || !inodes.has(fields[9]!)) continue // LISTEN, or not this process's
      const [local, remote] = [endpoint(fields[1]!), endpoint(fields[2]!)]
      const state = TCP_STATES[fields[3]!] ?? fields[3]!
      if (local.endsWith(`:${port}`)) connections.push({ state, peer: remote })
      else if (remote.endsWith(`:${port}`)) connections.push({ state, peer: local })
    }
  }
  return { fds, connections }
}

/** Resident memory (VmRSS) in MiB; undefined once the process is gone (or a zombie, which has none). */
export function rssMiB(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    return kb === undefined ? undefined : Number(kb) / 1024
  } catch {
    return undefined
  }
}
