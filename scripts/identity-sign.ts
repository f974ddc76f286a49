// npm run -s identity:sign -- <tenant> <user> <METHOD> <path> [body]
// Prints curl header arguments carrying an identity signed as the edge proxy signs it, for calling the API
// directly (development, debugging); with a body, its Content-Digest too: send exactly that body (curl --data-raw).
// Uses IDENTITY_SECRET, or the development secret in DATA_DIR.
import { randomUUID } from 'node:crypto'
import { signIdentity } from '../common/identity-signature.ts'
import { loadServerConfig } from '../server/config.ts'
import { runCli, say, UsageError } from './cli.ts'

runCli('identity:sign', async () => {
  const [tenant, user, method, url, body, ...extra] = process.argv.slice(2)
  if (
    tenant === undefined ||
    user === undefined ||
    method === undefined ||
    url === undefined ||
    extra.length > 0 ||
    !url.startsWith('/')
  ) {
    throw new UsageError('usage: npm run -s identity:sign -- <tenant> <user> <METHOD> </path?query> [body]')
  }
  const { identity } = loadServerConfig()
  const headers = signIdentity(identity.secret, { tenant, user, requestId: randomUUID(), method, url, body })
  say(
    Object.entries(headers)
      .map(([name, value]) => `-H ${name}:${value}`)
      .join(' '),
  )
})
