// A private Postgres server for fault drills: its own data directory and port, so a test may stop and
// restart it (fast or immediate) without touching the shared server on 5432. Made with the server's own
// initdb and pg_ctl, which refuse to run as root: as root they run as the `postgres` user.
// Stopped and deleted when the test ends, also when it fails.
import { execFile, execFileSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { Test } from 'tap'
import { migrate } from '../../server/db/migrate.ts'
import { createTenant } from '../../server/db/seed.ts'
import { pgSession } from '../../server/db/sql-session.ts'
import { APP_ROLE } from '../../server/db/embedded.ts'
import { freePort } from './edge-stack.ts'
import { uniqueSlug, type TestTenant } from './backends.ts'

const DATABASE = 'gatehouse_drill'

export interface ThrowawayPostgres {
  port: number
  /** The table owner (superuser), for setting up and for inspecting what really got committed. */
  ownerUrl: string
  /** The app role, as the API connects. */
  appUrl: string
  /** `pg_ctl stop -m <mode>`: fast rolls back open transactions and says goodbye; immediate kills every process. */
  stop(mode: 'fast' | 'immediate'): Promise<void>
  /** Starts it again on the same port and data directory (after an immediate stop, with crash recovery). */
  start(): Promise<void>
  /** SIGSTOP (true) or SIGCONT (false) to the server and all its processes: a hung server, sockets still open. */
  freeze(frozen: boolean): void
  /** One query as the owner, on a connection of its own. */
  query<Row>(sql: string, params?: unknown[]): Promise<Row[]>
  createTenant(): Promise<TestTenant>
}

/** The newest Postgres server installed the Debian way, or undefined when there is none. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root)
    .filter(name => existsSync(join(root, name, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin')
}

const asRoot = process.getuid?.() === 0

function run(bin: string, command: string, args: string[]): Promise<string> {
  const [file, argv] = asRoot
    ? ['runuser', ['-u', 'postgres', '--', join(bin, command), ...args]]
    : [join(bin, command), args]
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`))
      else resolve(stdout)
    })
  })
}

export async function startThrowawayPostgres(t: Test): Promise<ThrowawayPostgres> {
  const bin = postgresBinDir()
  if (bin === undefined) throw new Error('no Postgres server under /usr/lib/postgresql')
  const root = mkdtempSync(join(tmpdir(), 'gatehouse-pg-'))
  if (asRoot) {
    const [uid, gid] = ['-u', '-g'].map(flag =>
      Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim()),
    )
    chownSync(root, uid!, gid!)
  }
  const data = join(root, 'data')
  let started = false
  const stopNow = (): void => {
    // Synchronous, so it also works from an 'exit' handler if the test process is on its way out.
    if (started) {
      try {
        setFrozen(false)
      } catch {}
      try {
        execFileSync(
          asRoot ? 'runuser' : join(bin, 'pg_ctl'),
          [
            ...(asRoot ? ['-u', 'postgres', '--', join(bin, 'pg_ctl')] : []),
            'stop',
            '-D',
            data,
            '-m',
            'immediate',
            '-w',
          ],
          { stdio: 'ignore', timeout: 30_000 },
        )
      } catch {}
      started = false
    }
    rmSync(root, { recursive: true, force: true })
  }
  process.once('exit', stopNow)
  t.teardown(() => {
    process.off('exit', stopNow)
    stopNow()
  })

  await run(bin, 'initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'])
  let port = 0
  const start = async (): Promise<void> => {
    await run(bin, 'pg_ctl', [
      'start',
      '-D',
      data,
      '-l',
      join(root, 'server.log'),
      '-w',
      '-t',
      '60',
      // Its own socket directory: the default one is the shared server's. fsync off: a drill kills the
      // server process, not the machine, so committed data still reaches the files through the page cache.
      '-o',
      `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${root} -c fsync=off -c max_connections=40 -c shared_buffers=16MB`,
    ])
    started = true
  }
  // A free port can be taken between asking and binding; try another then.
  for (let attempt = 0; ; attempt++) {
    port = await freePort()
    try {
      await start()
      break
    } catch (error) {
      if (attempt >= 2) throw error
    }
  }

  const setFrozen = (frozen: boolean): void => {
    const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
    const children = execFileSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number)
    for (const pid of [postmaster, ...children]) process.kill(pid, frozen ? 'SIGSTOP' : 'SIGCONT')
  }

  const base = `postgresql://postgres@127.0.0.1:${port}`
  const query = async <Row>(url: string, sql: string, params: unknown[] = []): Promise<Row[]> => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 })
    await client.connect()
    try {
      return (await client.query(sql, params)).rows as Row[]
    } finally {
      await client.end()
    }
  }
  await query(`${base}/postgres`, `CREATE DATABASE ${DATABASE}`)
  const ownerUrl = `${base}/${DATABASE}`
  const owner = new pg.Client({ connectionString: ownerUrl })
  await owner.connect()
  try {
    await migrate(pgSession(owner)) // also creates the app role, which logs in without a password here (trust)
  } finally {
    await owner.end()
  }

  return {
    port,
    ownerUrl,
    appUrl: `postgresql://${APP_ROLE}@127.0.0.1:${port}/${DATABASE}`,
    async stop(mode) {
      await run(bin, 'pg_ctl', ['stop', '-D', data, '-m', mode, '-w', '-t', '60'])
      started = false
    },
    start,
    freeze: setFrozen,
    query: (sql, params) => query(ownerUrl, sql, params),
    async createTenant() {
      const slug = uniqueSlug('drill')
      const client = new pg.Client({ connectionString: ownerUrl })
      await client.connect()
      try {
        return { id: await createTenant(pgSession(client), { slug, name: `Drill ${slug}`, plan: 'enterprise' }), slug }
      } finally {
        await client.end()
      }
    },
  }
}
