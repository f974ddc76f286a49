// What every bench mode sets up first and tears down last: the compiled code, the Postgres database, the
// shared certificate and logins, and the API. Teardown runs on errors and on Ctrl-C too.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildForBench } from './build.ts'
import { makeSharedCredentials } from './credentials.ts'
import { createBenchDatabase } from './database.ts'
import { freePort, killAllStarted, type Managed } from './processes.ts'
import { createTeardown } from './teardown.ts'
import { buildScenarios } from './scenarios.ts'
import type { BenchSettings } from './settings.ts'
import { startApi } from './targets/api.ts'
import type { BenchContext } from './targets/target.ts'

export interface Stack {
  context: BenchContext
  api: Managed
  close(): Promise<void>
}

const log = (message: string): void => {
  process.stderr.write(`bench: ${message}\n`)
}

export async function openStack(settings: BenchSettings): Promise<Stack> {
  const teardown = createTeardown(log)
  try {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'))
    teardown.add(() => rmSync(dir, { recursive: true, force: true }))
    log('compiling the API and the proxy (tsc -p tsconfig.build.json)')
    const build = await buildForBench(`bench-${randomBytes(4).toString('hex')}`)
    teardown.add(build.remove)
    log('creating the benchmark database')
    const database = await createBenchDatabase(settings.postgresUrl)
    teardown.add(database.drop)
    log(
      `database ${database.name} on Postgres ${database.serverVersion}; making the certificate and logins (bcrypt cost ${settings.bcryptCost} and ${settings.lowBcryptCost})`,
    )
    const credentials = await makeSharedCredentials(dir, settings.bcryptCost, settings.lowBcryptCost)
    const base = {
      dir,
      buildDir: build.dir,
      identitySecret: randomBytes(32).toString('base64url'),
      credentials,
      database,
      settings,
      // Static signatures (nginx, Caddy, wrk against the API) are made just before a run: they must outlive it.
      identityMaxAgeSeconds: Math.min(600, Math.max(60, settings.seconds + 30)),
    }
    const { api, origin } = await startApi(base, await freePort())
    teardown.add(() => api.stop())
    return {
      context: {
        ...base,
        apiOrigin: origin,
        scenarios: Object.values(buildScenarios(database.writeProjectId)).filter(scenario =>
          settings.scenarios.some(id => id === scenario.id),
        ),
      },
      api,
      close: teardown.close,
    }
  } catch (error) {
    killAllStarted()
    await teardown.close()
    throw error
  }
}
