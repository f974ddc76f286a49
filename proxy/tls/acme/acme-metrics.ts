// What ACME shows on /metrics: how long each certificate it manages has left, and how orders end.
import promClient, { type Registry } from 'prom-client'
import type { CertificateBook } from './certificate-book.ts'

export function createAcmeMetrics(registry: Registry, book: CertificateBook, now: () => number = Date.now) {
  const registers = [registry]
  return {
    expiry: new promClient.Gauge({
      name: 'gatehouse_proxy_certificate_expiry_seconds',
      help: 'Seconds until the ACME certificate served for a name expires (negative: expired)',
      labelNames: ['name'] as const,
      // Min, not the cluster's default sum: only the primary has these, but a sum would be wrong if it ever were not.
      aggregator: 'min',
      registers,
      collect() {
        for (const name of book.names()) {
          this.set({ name }, Math.round((book.get(name)!.notAfter.getTime() - now()) / 1000))
        }
      },
    }),
    orders: new promClient.Counter({
      name: 'gatehouse_proxy_acme_orders_total',
      help: 'ACME certificate orders by result',
      labelNames: ['result'] as const,
      registers,
    }),
    onDemandRefusals: new promClient.Counter({
      name: 'gatehouse_proxy_on_demand_refusals_total',
      help: 'Handshakes for unknown names refused without an order, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
  }
}

export type AcmeMetrics = ReturnType<typeof createAcmeMetrics>
