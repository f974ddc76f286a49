// The manager's on-demand names on fakes (an issuer that always fails, a gate whose answer changes): a failed order
// is retried only while the name is still allowed, so a domain given up is not ordered again and again.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { CertificateBook } from '../../../../proxy/tls/acme/certificate-book.ts'
import { AcmeManager } from '../../../../proxy/tls/acme/manager.ts'
import { OnDemandGate } from '../../../../proxy/tls/acme/on-demand.ts'
import { FileStorage } from '../../../../proxy/tls/acme/storage.ts'

t.test(
  'a failing on-demand order is retried while allowed, and dropped once the name is no longer allowed',
  async t => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-acme-manager-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    let allowed = true
    const asked: string[] = []
    const ordered: string[] = []
    const gate = new OnDemandGate(
      async name => {
        asked.push(name)
        return allowed
      },
      { allowTtlMs: 1, denyTtlMs: 1 },
    )
    const book = new CertificateBook()
    const manager = new AcmeManager({
      issuer: {
        async obtain(names) {
          ordered.push(...names)
          throw new Error('the CA refused the order')
        },
      },
      storage: new FileStorage(dir),
      storageKey: name => `test/${name}.pem`,
      book,
      log: pino({ level: 'silent' }),
      retry: { baseMs: 1, maxMs: 1 },
      onDemand: gate,
    })
    t.teardown(() => manager.close())

    t.equal(await manager.serveOnDemand('shop.example.com'), false, 'the first order fails')
    t.same(ordered, ['shop.example.com'])
    await waitFor(() => ordered.length >= 2, 'a retry while the name is allowed')
    allowed = false
    const asksBefore = asked.length
    await waitFor(() => asked.length > asksBefore, 'the gate asked again before the next attempt')
    const ordersAtRefusal = ordered.length
    await new Promise(resolve => setTimeout(resolve, 50))
    t.equal(ordered.length, ordersAtRefusal, 'no order once the name is no longer allowed')
    t.equal(book.get('shop.example.com'), undefined, 'nothing served for it')
  },
)

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}
