// npm run user:add -- <user>@<tenant>: the password from standard input, a bcrypt line the proxy's
// verifier accepts, other lines kept, a changed password replacing the old one, and bad input refused.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { createCredentialVerifier } from '../../proxy/auth/credential-verifier.ts'
import { parseHtpasswd } from '../../proxy/auth/htpasswd.ts'

async function userAdd(
  args: string[],
  stdin: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['scripts/user-add.ts', ...args], {
    cwd: process.cwd(),
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', chunk => {
    stdout += String(chunk)
  })
  child.stderr.on('data', chunk => {
    stderr += String(chunk)
  })
  child.stdin.end(stdin)
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  return { code, stdout, stderr }
}

const verify = async (file: string, login: string, password: string): Promise<boolean> => {
  const { entries } = parseHtpasswd(readFileSync(file, 'utf8'))
  const store = { get: (name: string) => entries.get(name), size: entries.size, close: () => {} }
  return (await createCredentialVerifier(store, { cacheTtlMs: 0 }).verify(login, password)) !== undefined
}

t.test('adds a bcrypt login that verifies, keeps other lines, and replaces a changed password', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-user-add-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'htpasswd')
  writeFileSync(file, '# operators\nbob@globex:$2y$04$abcdefghijklmnopqrstuuGJ1pHZKnpkhIlvo0hM7n0lyoXEbVX1u\n')

  const added = await userAdd(['carol@acme'], 'correct horse battery\n', { HTPASSWD_FILE: file })
  t.equal(added.code, 0, added.stderr)
  t.match(added.stdout, `added carol@acme in ${file}`)
  t.notMatch(added.stdout + added.stderr, /correct horse/, 'the password is never printed')
  const text = readFileSync(file, 'utf8')
  t.match(
    text,
    /^# operators\nbob@globex:\$2y\$04\$.*\ncarol@acme:\$2y\$10\$[./A-Za-z0-9]{53}\n$/,
    'bcrypt cost 10, Apache prefix, other lines kept',
  )
  t.ok(await verify(file, 'carol@acme', 'correct horse battery'))
  t.notOk(
    await verify(file, 'carol@acme', 'correct horse battery\n'),
    'the trailing newline from the pipe is not part of it',
  )

  const changed = await userAdd(['carol@acme'], 'another long password', { HTPASSWD_FILE: file })
  t.equal(changed.code, 0, changed.stderr)
  t.match(changed.stdout, /^updated carol@acme/)
  t.equal(readFileSync(file, 'utf8').match(/^carol@acme:/gm)?.length, 1, 'one line per login')
  t.ok(await verify(file, 'carol@acme', 'another long password'))
  t.notOk(await verify(file, 'carol@acme', 'correct horse battery'))
})

t.test('bad input exits non-zero with a clear message and changes nothing', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-user-add-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'htpasswd')
  const env = { HTPASSWD_FILE: file }

  const noTenant = await userAdd(['carol'], 'long enough password', env)
  t.equal(noTenant.code, 64)
  t.match(noTenant.stderr, /user:add: "carol" is not user@tenant/)
  const badTenant = await userAdd(['carol@Acme Corp'], 'long enough password', env)
  t.equal(badTenant.code, 64)
  const short = await userAdd(['carol@acme'], 'short\n', env)
  t.equal(short.code, 64)
  t.match(short.stderr, /at least 8 characters/)
  const noArgs = await userAdd([], '', env)
  t.equal(noArgs.code, 64)
  t.match(noArgs.stderr, /usage: npm run user:add/)
  t.throws(() => readFileSync(file), { code: 'ENOENT' }, 'no file was written')
})
