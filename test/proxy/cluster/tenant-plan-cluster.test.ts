// One source for a tenant's plan in cluster mode with Redis: the API process on Postgres, the proxy as
// `npm run start:proxy` runs it with PROXY_WORKERS=2 sharing counters in Redis. `npm run tenant:plan` changes the
// stored plan, and every worker applies it (RateLimit-Limit) within 10 s, without a restart.
import { writeFileSync } from 'node:fs'
import t from 'tap'
import { Agent, request } from 'undici'
import { hashPassword } from '../../../proxy/auth/htpasswd-file.ts'
import { postgresUrls, uniqueSlug } from '../../helpers/backends.ts'
import { eventually } from '../../helpers/edge-stack.ts'
import { startApiProcess, startProxyProcess } from '../../helpers/service-processes.ts'
import { runScript } from '../../scripts/run-script.ts'
import { proxySetup, servedBy } from '../../helpers/proxy-process.ts'

const urls = postgresUrls()

const skip = urls === undefined && 'needs Postgres (DATABASE_URL, DATABASE_OWNER_URL)'

t.test('a plan change reaches every worker within 10 s', { skip }, async t => {
  const slug = uniqueSlug('cluster')
  const added = await runScript('tenant-add', [slug, '--plan', 'free'], { DATABASE_OWNER_URL: urls!.owner })
  t.equal(added.code, 0, added.stderr)
  const api = await startApiProcess(t, { databaseUrl: urls!.app })
  const setup = await proxySetup(t, api.url) // for its temp DATA_DIR only
  const htpasswdFile = `${setup.dataDir}/cluster-htpasswd`
  writeFileSync(htpasswdFile, `ops@${slug}:${await hashPassword('ops-password', 4)}\n`)
  const proxy = await startProxyProcess(t, {
    upstreamUrls: api.url,
    htpasswdFile,
    env: { PROXY_WORKERS: '2', REDIS_URL: 'redis://127.0.0.1:6379', RATE_LIMIT_FREE: '300', RATE_LIMIT_PRO: '1200' },
  })
  const authorization = `Basic ${Buffer.from(`ops@${slug}:ops-password`).toString('base64')}`

  // Each request on a fresh HTTP/1.1 connection, so a round of 16 reaches both workers (all on one: 1 in 32 768).
  let round = 0
  const limits = async (): Promise<{ limits: string[]; ids: string[] }> => {
    round++
    const ids = Array.from({ length: 16 }, (_, index) => `plan-${round}-${index}`)
    const seen = await Promise.all(
      ids.map(async id => {
        const agent = new Agent({ connect: { ca: proxy.caCert, servername: 'localhost' }, allowH2: false })
        try {
          const response = await request(`${proxy.url}/api/v1/projects?limit=1`, {
            dispatcher: agent,
            headers: { authorization, 'x-request-id': id },
          })
          await response.body.dump()
          if (response.statusCode !== 200) throw new Error(`expected 200, got ${response.statusCode}`)
          return String(response.headers['ratelimit-limit'])
        } finally {
          await agent.close()
        }
      }),
    )
    return { limits: seen, ids }
  }

  t.same([...new Set((await limits()).limits)], ['300'], 'free, as stored, on every worker')
  const changedAt = Date.now()
  const changed = await runScript('tenant-plan', [slug, 'pro'], { DATABASE_OWNER_URL: urls!.owner })
  t.equal(changed.code, 0, changed.stderr)
  let last = await limits()
  while (last.limits.some(limit => limit !== '1200') && Date.now() - changedAt < 15_000) {
    await new Promise(resolve => setTimeout(resolve, 250))
    last = await limits()
  }
  t.same([...new Set(last.limits)], ['1200'], 'pro on every worker')
  t.ok(Date.now() - changedAt < 10_000, `within 10 s (took ${Date.now() - changedAt} ms)`)
  // A worker logs a request after answering it: its lines may still be on their way.
  const workers = (): Set<number> => servedBy(proxy.process.lines('"request completed"'), last.ids)
  await eventually(async () => workers().size === 2, 5000, 'log lines of both workers')
  t.equal(workers().size, 2, 'the last round was served by both workers')
})
