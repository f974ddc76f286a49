// The API as an operator runs it (server/main.ts under tsx, a real process on a real port), with its JSON
// log lines parsed as they arrive. Killed when the test ends if it is still running.
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import type { Test } from 'tap'
import { TEST_IDENTITY_SECRET } from './build-app.js'

const ROOT = join(import.meta.dirname, '..', '..')

export interface ApiProcess {
  child: ChildProcess
  url: string
  lines: Array<Record<string, unknown>>
  stderr(): string
  alive(): boolean
}

export async function startApiProcess (t: Test, env: Record<string, string>): Promise<ApiProcess> {
  const inherited = { ...process.env }
  // Only what the test says reaches it: not the suite's own database settings.
  delete inherited.DATABASE_URL
  delete inherited.DATABASE_OWNER_URL
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: ROOT,
    env: { ...inherited, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', IDENTITY_SECRET: TEST_IDENTITY_SECRET, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const lines: Array<Record<string, unknown>> = []
  let stderr = ''
  let partial = ''
  let onLine: (() => void) | undefined
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n')
    partial = parts.pop()!
    for (const part of parts) {
      if (part.trim() === '') continue
      try { lines.push(JSON.parse(part) as Record<string, unknown>) } catch { lines.push({ msg: part, unparsed: true }) }
    }
    onLine?.()
  })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const alive = (): boolean => child.exitCode === null && child.signalCode === null

  const port = await new Promise<number>((resolve, reject) => {
    const look = (): void => {
      const listening = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at http://127.0.0.1:'))
      if (listening !== undefined) {
        onLine = undefined
        resolve(Number(/:(\d+)$/.exec(listening.msg as string)![1]))
      }
    }
    onLine = look
    child.once('exit', (code, signal) => reject(new Error(`the API exited (${code ?? signal}) before listening:\n${stderr}`)))
    look()
  })
  return { child, url: `http://127.0.0.1:${port}`, lines, stderr: () => stderr, alive }
}
