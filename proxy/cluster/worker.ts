// A cluster worker's side of the conversation with the primary. Its TLS material comes from the primary,
// which alone creates, renews and watches it (workers never race to write the local CA's files); its
// metrics are handed over when the primary is scraped; it drains when the primary asks, or goes away.
import type { Registry } from 'prom-client'
import type { CertificateSource } from '../tls/certificate-source.ts'
import type { TlsMaterial } from '../tls/local-ca.ts'
import { isMessage, type ToPrimary, type ToWorker } from './messages.ts'

function send(message: ToPrimary): void {
  if (process.connected) process.send?.(message)
}

/** The primary's certificate: asked for once, then every renewal or reload it pushes; and its session ticket keys. */
export async function certificatesFromPrimary(): Promise<CertificateSource & { ticketKeys: Buffer }> {
  let apply: ((material: TlsMaterial) => void) | undefined
  let resolveInitial: ((first: { material: TlsMaterial; ticketKeys: Buffer }) => void) | undefined
  const initial = new Promise<{ material: TlsMaterial; ticketKeys: Buffer }>(resolve => {
    resolveInitial = resolve
  })
  const onMessage = (message: unknown): void => {
    if (!isMessage<ToWorker, 'gatehouse:tls'>(message, 'gatehouse:tls')) return
    const material = { key: message.key, cert: message.cert }
    if (resolveInitial !== undefined) {
      resolveInitial({ material, ticketKeys: Buffer.from(message.ticketKeys, 'base64') })
      resolveInitial = undefined
    } else {
      apply?.(material)
    }
  }
  process.on('message', onMessage)
  send({ type: 'gatehouse:tls-request' })
  const first = await initial
  return {
    initial: first.material,
    ticketKeys: first.ticketKeys,
    notice: undefined,
    // The primary checked the pair before sending it: a rejected one never gets here.
    watch(onApply) {
      apply = onApply
    },
    close() {
      process.off('message', onMessage)
    },
  }
}

export function answerMetricsRequests(registry: Registry): void {
  process.on('message', (message: unknown) => {
    if (!isMessage<ToWorker, 'gatehouse:metrics-request'>(message, 'gatehouse:metrics-request')) return
    registry.getMetricsAsJSON().then(
      metrics => send({ type: 'gatehouse:metrics', id: message.id, metrics }),
      () => {
        send({ type: 'gatehouse:metrics', id: message.id, metrics: [] })
      },
    )
  })
}

/**
 * `drain` runs when the primary asks, when the primary is gone (its IPC channel closed), or on SIGINT or
 * SIGTERM, as many times as they come. A terminal's Ctrl-C reaches the primary and every worker at once,
 * and the primary's request may overtake the signal: neither may count as a worker's "second signal"
 * (close-with-grace exits 1 on one). Forcing a stop is the primary's call: it kills the workers.
 */
export function onDrainRequest(drain: (reason: string) => void): void {
  process.on('message', (message: unknown) => {
    if (isMessage<ToWorker, 'gatehouse:drain'>(message, 'gatehouse:drain')) drain('asked by the primary')
  })
  process.once('disconnect', () => drain('the primary is gone'))
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => drain(signal))
}

export function reportReady(): void {
  send({ type: 'gatehouse:ready' })
}
