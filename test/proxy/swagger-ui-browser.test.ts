// Swagger UI's authorised "Try it out" through the real edge, in headless Chromium (Debian's, driven by
// playwright-core): Authorize with a user@tenant login, run a request, see that login's data; then run the curl
// command Swagger UI wrote for it against the edge.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { forEachBackend } from '../helpers/backends.ts'
import { CHROMIUM, launchChromium } from '../helpers/chromium.ts'
import { basic, startEdgeStack } from '../helpers/edge-stack.ts'

t.test(
  "Swagger UI's Authorize and Try it out through the proxy in headless Chromium",
  { timeout: 120_000 },
  async t => {
    t.ok(existsSync(CHROMIUM), `${CHROMIUM} is installed (apt-get install chromium; .ci/run does)`)
    forEachBackend(t, async (t, backend) => {
      const stack = await startEdgeStack(t, backend)
      const alice = await stack.addLogin('alice')
      const bob = await stack.addLogin('bob')
      for (const [login, name] of [
        [alice, 'Alice through Swagger UI'],
        [bob, 'Bob private project'],
      ] as const) {
        const created = await stack.request('/api/v1/projects', {
          as: login,
          method: 'POST',
          body: JSON.stringify({ name }),
        })
        t.equal(created.status, 201)
      }

      const browser = await launchChromium(t, stack.caCert)
      // The page itself sits behind the edge login too: the browser logs in as bob. Authorize as alice must then be
      // what the page's requests carry, so alice's data (not bob's) proves the dialog's login was used.
      const context = await browser.newContext({ httpCredentials: { username: bob.login, password: bob.password } })
      const page = await context.newPage()
      const problems: string[] = []
      page.on('pageerror', error => problems.push(`page error: ${error.message}`))
      page.on('response', reply => {
        if (reply.status() >= 400) problems.push(`${reply.status()} for ${reply.url()}`)
      })
      const apiAuthorizations: Array<string | undefined> = []
      page.on('request', request => {
        if (request.url().includes('/api/v1/')) apiAuthorizations.push(request.headers().authorization)
      })

      const docs = await page.goto(`${stack.proxyUrl}/docs`)
      t.equal(docs?.status(), 200)

      // Authorize: the scheme the document declares, HTTP basic with user@tenant.
      await page.locator('.auth-wrapper .btn.authorize').click({ timeout: 30_000 })
      const dialog = page.locator('.modal-ux')
      await dialog.getByText('user@tenant').first().waitFor({ timeout: 10_000 })
      await dialog.locator('#auth-basic-username').fill(alice.login)
      await dialog.locator('input[type=password]').fill(alice.password)
      await dialog.locator('.modal-btn.auth.authorize').click()
      await dialog.locator('.btn-done').click()

      // Try it out on GET /api/v1/projects (a padlock shows it needs the login), sorted newest first.
      const operation = page
        .locator('.opblock-get')
        .filter({ has: page.locator('[data-path="/api/v1/projects"]') })
        .first()
      await operation.locator('.opblock-summary').first().click()
      t.ok(await operation.locator('.authorization__btn').first().isVisible(), 'the operation shows it needs the login')
      await operation.locator('.try-out__btn').click()
      const sort = operation.locator('tr[data-param-name="sort"] select')
      t.same(
        await sort.locator('option').allInnerTexts(),
        ['--', 'createdAt', '-createdAt', 'updatedAt', '-updatedAt', 'name', '-name'],
        'sort is offered as its enum values',
      )
      await sort.selectOption('-createdAt')
      await operation.locator('.btn.execute').click()

      const response = operation.locator('.live-responses-table .response').first()
      await response.locator('.response-col_status').getByText('200').waitFor({ timeout: 30_000 })
      const body = await response.locator('.response-col_description').innerText()
      t.match(body, 'Alice through Swagger UI', "the authorised login's data")
      t.notMatch(body, 'Bob private project', "not the browser's own login's")
      t.same(apiAuthorizations, [basic(alice)], 'the request carried the login given to Authorize')

      // The curl command Swagger UI shows carries the login and works against the edge as it stands.
      const curl = await operation.locator('.curl-command .curl').innerText()
      t.match(curl, `Authorization: ${basic(alice)}`)
      t.match(curl, `${stack.proxyUrl}/api/v1/projects?`)
      const dir = mkdtempSync(join(tmpdir(), 'swagger-curl-'))
      t.teardown(() => rmSync(dir, { recursive: true, force: true }))
      writeFileSync(join(dir, 'ca.pem'), stack.caCert)
      const { stdout } = await promisify(execFile)(
        'bash',
        ['-c', `${curl.replaceAll('\\\n', ' ')} --fail-with-body --silent --cacert ca.pem`],
        { cwd: dir },
      )
      t.match(
        JSON.parse(stdout),
        { data: [{ name: 'Alice through Swagger UI' }], next: null },
        'the curl command answers 200 with the data',
      )
      t.same(problems, [], 'no script, CSP or network errors on the page')
    })
  },
)
