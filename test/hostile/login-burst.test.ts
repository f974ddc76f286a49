// Guessing passwords faster than the failed-login throttle counts, over real TLS and HTTP/2 through the real
// proxy: a burst of wrong passwords on one connection, and one login sprayed from many addresses. A check
// reserves its attempt before bcrypt runs, so neither gets more checks than the limits; and a user whose
// credentials the proxy has already verified is not locked out by someone spraying their login.
import { randomInt } from 'node:crypto'
import { once } from 'node:events'
import { appendFileSync } from 'node:fs'
import { connect as http2Connect, type SecureClientSessionOptions } from 'node:http2'
import t, { type Test } from 'tap'
import { hashPassword } from '../../proxy/auth/htpasswd-file.ts'
import { forEachBackend, type Backend } from '../helpers/backends.ts'
import { basic, eventually, startEdgeStack, type EdgeStack, type Login } from '../helpers/edge-stack.ts'

const LIMITS = { AUTH_FAILURE_LIMIT: '5', AUTH_LOGIN_FAILURE_LIMIT: '6', AUTH_FAILURE_WINDOW_SECONDS: '60' }

interface Answer {
  status: number
  retryAfter: number | undefined
  type: string | undefined
}

/** A loopback address no other test uses: a client of its own for the per-address throttle (and in Redis). */
const freshAddress = (): string => `127.${1 + randomInt(250)}.${randomInt(256)}.${1 + randomInt(250)}`

/** Requests on ONE HTTP/2 connection from `localAddress`, each with its own credentials, all sent at once, in order. */
async function burst(stack: EdgeStack, localAddress: string, logins: Login[]): Promise<Answer[]> {
  // localAddress reaches the socket (net.connect) though @types/node does not list it for http2.connect.
  const options: SecureClientSessionOptions & { localAddress: string } = {
    ca: stack.caCert,
    servername: 'localhost',
    localAddress,
  }
  const session = http2Connect(stack.proxyUrl, options)
  session.on('error', () => {})
  await once(session, 'connect')
  const send = (login: Login): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const stream = session.request({ ':path': '/api/v1/projects?limit=1', authorization: basic(login) })
      let headers: Record<string, unknown> = {}
      let body = ''
      stream.setEncoding('utf8')
      stream.on('response', received => {
        headers = received
      })
      stream.on('data', (chunk: string) => {
        body += chunk
      })
      stream.on('end', () =>
        resolve({
          status: Number(headers[':status']),
          retryAfter: headers['retry-after'] === undefined ? undefined : Number(headers['retry-after']),
          type:
            headers['content-type'] === 'application/problem+json; charset=utf-8' ? JSON.parse(body).type : undefined,
        }),
      )
      stream.on('error', reject)
      stream.end()
    })
  try {
    return await Promise.all(logins.map(send))
  } finally {
    session.close()
  }
}

/** One request from `localAddress` on a connection of its own. */
const from = async (stack: EdgeStack, localAddress: string, login: Login): Promise<Answer> =>
  (await burst(stack, localAddress, [login]))[0]!

/**
 * A login for a fresh tenant, waiting for the proxy to read the file by probing canary logins (a new one each
 * time): stack.addLogin probes with the new login itself, so its failures before the file is read would spend
 * the per-login budget, and its success would put the credentials in the verification cache. Tests here call
 * only this: stack.addLogin rewrites the file without these lines.
 */
async function quietLogin(stack: EdgeStack, backend: Backend): Promise<Login> {
  const tenant = await backend.createTenant()
  const login = { tenant, login: `user@${tenant.slug}`, password: `pw-${randomInt(1e9)}` }
  const canaries = Array.from({ length: 40 }, (_, index) => ({
    tenant,
    login: `canary${index}@${tenant.slug}`,
    password: 'canary',
  }))
  const lines = await Promise.all(
    [login, ...canaries].map(async each => `${each.login}:${await hashPassword(each.password, 4)}`),
  )
  appendFileSync(stack.htpasswdFile, lines.join('\n') + '\n')
  let probe = 0
  const canaryIn = async (): Promise<boolean> =>
    (await from(stack, freshAddress(), canaries[probe++ % canaries.length]!)).status === 200
  await eventually(canaryIn, 10_000, 'the proxy reading the new login')
  return login
}

const throttled = async (stack: EdgeStack, throttle: 'address' | 'login'): Promise<number> =>
  (await stack.proxy.edgeMetrics.authThrottled.get()).values.find(value => value.labels.throttle === throttle)?.value ??
  0

const wrong = (login: Login, count: number): Login[] =>
  Array.from({ length: count }, (_, index) => ({ ...login, password: `guess-${index}` }))

const checkRefusals = (t: Test, answers: Answer[], throttle: string): void => {
  for (const answer of answers.filter(each => each.status !== 401 && each.status !== 200)) {
    t.equal(answer.status, 429, `refused with 429 (${throttle})`)
    const retryAfter = answer.retryAfter ?? 0
    t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter} within the window`)
    t.equal(answer.type, 'urn:gatehouse:problem:login-throttled')
  }
}

const STORES: Array<[string, Record<string, string>]> = [
  ['memory', {}],
  ['redis', { REDIS_URL: 'redis://127.0.0.1:6379' }],
]

forEachBackend(t, async (t, backend) => {
  for (const [store, env] of STORES) {
    t.test(store, async t => {
      const stack = await startEdgeStack(t, backend, { ...LIMITS, ...env })

      // The guesses go first on the connection and the proxy takes its streams in order: by the time it comes to
      // the right password, five checks hold the address's attempts, running or failed.
      for (const cached of [false, true]) {
        t.test(
          `12 wrong passwords and the right one${cached ? ' (known to the verification cache)' : ''} at once on one HTTP/2 connection`,
          async t => {
            const victim = await quietLogin(stack, backend)
            if (cached) {
              t.equal(
                (await from(stack, freshAddress(), victim)).status,
                200,
                'the user logged in lately: the cache holds the credentials',
              )
            }
            const attacker = freshAddress()
            const before = await throttled(stack, 'address')
            const answers = await burst(stack, attacker, [...wrong(victim, 12), victim])
            const checked = answers.slice(0, 12).filter(answer => answer.status === 401).length
            t.equal(checked, 5, `${checked} of 12 guesses were checked (AUTH_FAILURE_LIMIT), not all`)
            t.equal(answers[12]!.status, 429, 'the right password is refused while the address is full, not let in')
            checkRefusals(t, answers, 'address')
            t.equal((await throttled(stack, 'address')) - before, 8, 'each 429 counted, as the address throttle')

            t.equal(
              (await from(stack, attacker, victim)).status,
              429,
              'afterwards the right password from that address is refused too',
            )
            t.equal((await from(stack, freshAddress(), victim)).status, 200, 'while the user, from elsewhere, logs in')
          },
        )
      }

      t.test("a client's parallel requests with the same credentials are one attempt, right or wrong", async t => {
        const alice = await quietLogin(stack, backend)
        const client = freshAddress()
        const right = await burst(stack, client, Array<Login>(20).fill(alice))
        t.same(
          right.map(answer => answer.status),
          Array(20).fill(200),
          '20 at once, limit 5, none in the cache yet: one check lets all in',
        )
        const same = await burst(stack, client, Array<Login>(12).fill({ ...alice, password: 'guess-0' }))
        t.ok(
          same.every(answer => answer.status === 401),
          'the same wrong password 12 times at once: 12 × 401',
        )
        const distinct = await burst(stack, client, wrong(alice, 4).slice(1))
        t.same(
          distinct.map(answer => answer.status),
          [401, 401, 401],
          'and it cost one attempt, not 12: three more guesses are checked',
        )
      })

      t.test('one login sprayed from 12 addresses at once: at most AUTH_LOGIN_FAILURE_LIMIT checks', async t => {
        const victim = await quietLogin(stack, backend)
        const before = await throttled(stack, 'login')
        const answers = await Promise.all(wrong(victim, 12).map(guess => from(stack, freshAddress(), guess)))
        const checked = answers.filter(answer => answer.status === 401).length
        t.equal(checked, 6, `${checked} of 12 checked (AUTH_LOGIN_FAILURE_LIMIT), not all`)
        checkRefusals(t, answers, 'login')
        t.equal((await throttled(stack, 'login')) - before, 12 - checked, 'each 429 counted, as the login throttle')
        t.equal(
          (await from(stack, freshAddress(), victim)).status,
          429,
          'credentials not verified lately wait out the lock, even right ones',
        )
      })

      t.test('a user whose credentials the proxy verified lately is not locked out by the spray', async t => {
        const victim = await quietLogin(stack, backend)
        const home = freshAddress()
        t.equal((await from(stack, home, victim)).status, 200)
        await Promise.all(wrong(victim, 12).map(guess => from(stack, freshAddress(), guess)))
        t.equal(
          (await from(stack, freshAddress(), { ...victim, password: 'guess-x' })).status,
          429,
          'the login is locked for guesses',
        )
        t.equal((await from(stack, home, victim)).status, 200, 'its user still gets in')
        t.equal((await from(stack, freshAddress(), victim)).status, 200, 'from another address too')
      })
    })
  }
})
