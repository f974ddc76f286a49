// npm run user:add -- <user>@<tenant>
// Adds (or changes the password of) a login in the proxy's htpasswd file with a bcrypt hash. The password
// is read from standard input when that is not a terminal (`echo "$PW" | npm run user:add -- …`), and
// asked for twice, without echo, when it is.
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Type } from 'typebox'
import { loadEnvConfig } from '../common/env-config.ts'
import { parseLogin } from '../proxy/auth/htpasswd.ts'
import { upsertLogin } from '../proxy/auth/htpasswd-file.ts'
import { runCli, say, UsageError } from './cli.ts'

const Env = Type.Object({
  DATA_DIR: Type.String({ default: '.data' }),
  HTPASSWD_FILE: Type.Optional(Type.String({ minLength: 1 })),
})
const USAGE = 'usage: npm run user:add -- <user>@<tenant>   (password on standard input, or asked for)'

async function readPiped(): Promise<string> {
  let text = ''
  for await (const chunk of process.stdin) text += String(chunk)
  return text.replace(/\r?\n$/, '')
}

async function askHidden(prompt: string): Promise<string> {
  const input = createInterface({ input: process.stdin, output: process.stderr, terminal: true })
  const output = input as unknown as { _writeToOutput: (text: string) => void }
  process.stderr.write(prompt)
  output._writeToOutput = () => {} // no echo
  const answer = await new Promise<string>(resolve => input.question('', resolve))
  input.close()
  process.stderr.write('\n')
  return answer
}

runCli('user:add', async () => {
  const args = process.argv.slice(2)
  if (args.length !== 1 || args[0]!.startsWith('-')) throw new UsageError(USAGE)
  const login = args[0]!
  if (parseLogin(login) === undefined) {
    throw new UsageError(`"${login}" is not user@tenant (tenant: lowercase letters, digits, hyphens)`)
  }
  const env = loadEnvConfig(Env, process.env)
  const file = env.HTPASSWD_FILE ?? join(env.DATA_DIR, 'htpasswd')

  let password: string
  if (process.stdin.isTTY === true) {
    password = await askHidden(`Password for ${login}: `)
    if ((await askHidden('Again: ')) !== password) throw new UsageError('the passwords differ; nothing changed')
  } else {
    password = await readPiped()
  }
  if (password.length < 8) throw new UsageError('the password must have at least 8 characters; nothing changed')
  if (password.includes('\n')) throw new UsageError('the password must be one line; nothing changed')

  const outcome = await upsertLogin(file, login, password)
  say(`${outcome} ${login} in ${file}`)
})
