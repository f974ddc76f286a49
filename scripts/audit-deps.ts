// npm run audit:deps [-- --from report.json]
// Gates on `npm audit --omit=dev`: the production dependency tree may carry no high or critical advisory.
// Exit 0 clean (lower severities are listed), 1 when a high/critical one is found, 69 when no audit could be made
// (the registry's advisory endpoint refused or unreachable — e.g. a mirror that only serves packages), so CI can
// tell "unknown" from "clean". --from checks a report saved elsewhere with `npm audit --omit=dev --json`.
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { runCli, say, UsageError } from './cli.ts'

const BLOCKING = ['high', 'critical'] as const

interface AuditReport {
  vulnerabilities?: Record<
    string,
    { severity: string; via: Array<string | { title?: string; url?: string }>; fixAvailable?: unknown }
  >
  metadata?: { vulnerabilities?: Record<string, number> }
  error?: unknown
  message?: string
  statusCode?: number
}

class AuditUnavailableError extends Error {}

function runNpmAudit(): Promise<string> {
  return new Promise((resolve, reject) => {
    // npm audit exits 1 whenever it finds anything (or fails); the JSON on stdout says which.
    execFile('npm', ['audit', '--omit=dev', '--json'], { maxBuffer: 64 * 2 ** 20 }, (error, stdout) => {
      if (stdout.trim() !== '') resolve(stdout)
      else reject(new AuditUnavailableError(`npm audit printed nothing: ${error?.message ?? 'no output'}`))
    })
  })
}

function parse(text: string): AuditReport {
  try {
    return JSON.parse(text) as AuditReport
  } catch {
    throw new UsageError('the audit report is not JSON (make it with npm audit --omit=dev --json)')
  }
}

runCli('audit:deps', async () => {
  const args = process.argv.slice(2)
  if (!(args.length === 0 || (args.length === 2 && args[0] === '--from'))) {
    throw new UsageError('usage: npm run audit:deps [-- --from <npm-audit-report.json>]')
  }
  const unavailable = (why: string): void => {
    process.stderr.write(`audit:deps: no audit could be made: ${why}\n`)
    process.exitCode = 69 // EX_UNAVAILABLE
  }
  let text: string
  try {
    text = args.length === 2 ? await readFile(args[1]!, 'utf8') : await runNpmAudit()
  } catch (error) {
    if (error instanceof AuditUnavailableError) return unavailable(error.message)
    throw error
  }
  const report = parse(text)
  const counts = report.metadata?.vulnerabilities
  if (counts === undefined || report.error !== undefined) {
    return unavailable(report.message ?? 'the report has no vulnerability counts')
  }
  const findings = Object.entries(report.vulnerabilities ?? {})
  for (const [name, finding] of findings) {
    const titles = finding.via.map(via =>
      typeof via === 'string' ? `via ${via}` : `${via.title ?? ''} ${via.url ?? ''}`.trim(),
    )
    say(`${finding.severity.padEnd(8)} ${name}: ${titles.join('; ')}`)
  }
  const blocking = BLOCKING.reduce((sum, severity) => sum + (counts[severity] ?? 0), 0)
  say(`${findings.length} vulnerable package(s); ${blocking} high or critical`)
  if (blocking > 0) process.exitCode = 1
})
