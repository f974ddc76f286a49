// GraphiQL (and Swagger UI) through the edge, in a real headless Chromium (Debian's, driven by playwright-core): the
// browser logs in with basic auth over HTTP/2 + TLS, the page's scripts load under the edge's CSP, a
// query runs and shows the tenant's own data.
import { existsSync } from 'node:fs'
import t from 'tap'
import { forEachBackend } from '../helpers/backends.ts'
import { CHROMIUM, launchChromium } from '../helpers/chromium.ts'
import { startEdgeStack } from '../helpers/edge-stack.ts'

t.test('GraphiQL through the proxy in headless Chromium', { timeout: 120_000 }, async t => {
  t.ok(existsSync(CHROMIUM), `${CHROMIUM} is installed (apt-get install chromium; .ci/run does)`)
  forEachBackend(t, async (t, backend) => {
    const stack = await startEdgeStack(t, backend)
    const alice = await stack.addLogin('alice')
    const bob = await stack.addLogin('bob')
    const created = await stack.request('/api/v1/projects', {
      as: alice,
      method: 'POST',
      body: JSON.stringify({ name: 'Seen in the browser' }),
    })
    t.equal(created.status, 201)
    await stack.request('/api/v1/projects', {
      as: bob,
      method: 'POST',
      body: JSON.stringify({ name: 'Bob private project' }),
    })

    const browser = await launchChromium(t, stack.caCert)
    const context = await browser.newContext({ httpCredentials: { username: alice.login, password: alice.password } })
    const page = await context.newPage()
    const problems: string[] = []
    page.on('pageerror', error => problems.push(`page error: ${error.message}`))
    // A failed load is reported with its URL below; the console's copy of it names none.
    page.on('console', message => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
        problems.push(`console: ${message.text()}`)
      }
    })
    page.on('response', reply => {
      if (reply.status() >= 400) problems.push(`${reply.status()} for ${reply.url()}`)
    })
    page.on('requestfailed', request =>
      problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`),
    )

    const response = await page.goto(`${stack.proxyUrl}/graphiql`)
    t.equal(response?.status(), 200)
    t.match(response?.headers()['content-security-policy'], /script-src 'self'/, 'served under the edge CSP')
    t.equal(await response?.securityDetails()?.then(details => details?.protocol), 'TLS 1.3')

    const execute = page.locator('.graphiql-execute-button')
    await execute.waitFor({ timeout: 30_000 })
    await execute.click()
    const result = page.locator('.graphiql-response')
    await result.getByText('Seen in the browser').waitFor({ timeout: 30_000 })
    const text = await result.innerText()
    t.match(text, alice.tenant.slug, 'the viewer is the logged-in tenant')
    t.notMatch(text, 'Bob private project', "another tenant's data is not there")
    t.same(problems, [], 'no script, CSP or network errors on the page')

    // Swagger UI runs under the same policy.
    const docs = await page.goto(`${stack.proxyUrl}/docs`)
    t.equal(docs?.status(), 200)
    await page.locator('.opblock-summary-path').first().waitFor({ timeout: 30_000 })
    t.ok(await page.getByText('/api/v1/projects/{id}/tasks').first().isVisible(), 'the operations are listed')
    t.same(problems, [], 'no script, CSP or network errors on the docs page')
  })
})
