// npm run dev:bundle — makes the bundles `npm run dev` runs its processes from (scripts/dev/bundle.ts) now: npm ci's
// postinstall runs it, so the first start on a fresh clone finds them made (3.4–3.9 s to data through the edge
// instead of 4.3–4.5 s, 2026-12-05). dev makes them itself when they are missing or stale.
import { fileURLToPath } from 'node:url'
import { runCli, say } from './cli.ts'
import { bundleDevProcess } from './dev/dev-child.ts'
import { DEV_ENTRIES } from './dev/processes.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

runCli('dev:bundle', async () => {
  for (const [name, entry] of Object.entries(DEV_ENTRIES)) say(`${name}: ${await bundleDevProcess(ROOT, entry)}`)
})
