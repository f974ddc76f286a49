// The edge-overhead section's upstream (bench/trivial-upstream.ts) as a process of its own, and as the row that
// measures it called directly: plain HTTP, no edge in front, its own CPU per request.
import { join } from 'node:path'
import { ROOT } from '../build.ts'
import { startProcess, waitUntilAnswers, type Managed } from '../processes.ts'
import type { Target } from './target.ts'

/** From the bench's build (bench/build.ts) in buildDir; its log in dir. */
export async function startTrivialUpstream(
  buildDir: string,
  dir: string,
  port: number,
): Promise<{ upstream: Managed; origin: string }> {
  const entry = join(buildDir, 'dist/bench/trivial-upstream.js')
  const upstream = startProcess('trivial-upstream', process.execPath, [entry], {
    cwd: ROOT,
    logFile: join(dir, 'trivial-upstream.log'),
    env: { ...process.env, NODE_ENV: 'production', TRIVIAL_PORT: String(port) },
  })
  const origin = `http://127.0.0.1:${port}`
  await waitUntilAnswers(upstream, `${origin}/ready`)
  return { upstream, origin }
}

export function upstreamDirectTarget(upstream: Managed, origin: string): Target {
  return {
    id: 'upstream-direct',
    label: 'Upstream direct (no edge)',
    workers: '1 Node process',
    origin,
    logFiles: [upstream.logFile],
    rootPids: () => [upstream.child.pid!],
    notApplicable: () => undefined,
    securityHeaders: false,
    omissions: ['plain HTTP, no TLS', "no auth, rate limit, cache, edge headers or identity: the upstream's own cost"],
    prepare: async () => ({}),
    expectedHeaders: () => ({}),
    // Stopped by the section after every target that forwards to it.
    stop: async () => {},
  }
}
