// Debian's headless Chromium for the browser tests (GraphiQL, Swagger UI), trusting the edge's certificate by its key.
import { createHash, X509Certificate } from 'node:crypto'
import { chromium, type Browser } from 'playwright-core'
import type { Test } from 'tap'

export const CHROMIUM = '/usr/bin/chromium'

/** Chromium trusts exactly this certificate's key, as a browser that imported the local CA would trust it. */
const spkiPin = (pem: string): string =>
  createHash('sha256')
    .update(new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64')

/** A Chromium that trusts `caCert`'s key and is closed when the test ends. */
export async function launchChromium(t: Test, caCert: string): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--ignore-certificate-errors-spki-list=${spkiPin(caCert)}`,
    ],
  })
  t.teardown(() => browser.close())
  return browser
}
