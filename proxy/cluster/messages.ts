// What the cluster primary and its workers tell each other over the IPC channel node:cluster sets up.
// Everything is prefixed, so prom-client's or anyone else's messages on the same channel are never mistaken.
import type { Worker } from 'node:cluster'
import type { Registry } from 'prom-client'
import type { ChallengeChange } from '../tls/acme/challenges.ts'

export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>

export type ToWorker =
  /** `ticketKeys` (base64): the primary's session ticket keys, the same for every worker and every message. */
  | { type: 'gatehouse:tls'; key: string; cert: string; ticketKeys: string }
  | { type: 'gatehouse:drain' }
  | { type: 'gatehouse:metrics-request'; id: number }
  /** ACME (proxy/cluster/acme-relay.ts): a certificate for a name, a challenge answer, an on-demand outcome. */
  | { type: 'gatehouse:acme-certificate'; name: string; key: string; cert: string }
  | { type: 'gatehouse:acme-forget'; name: string }
  | { type: 'gatehouse:acme-challenge'; change: ChallengeChange }
  | { type: 'gatehouse:acme-on-demand-result'; id: number; ok: boolean }

export type ToPrimary =
  | { type: 'gatehouse:tls-request' }
  | { type: 'gatehouse:ready' }
  | { type: 'gatehouse:metrics'; id: number; metrics: MetricsJson }
  | { type: 'gatehouse:acme-request' }
  | { type: 'gatehouse:acme-on-demand'; id: number; name: string }

export function isMessage<Message extends { type: string }, Type extends Message['type']>(
  message: unknown,
  type: Type,
): message is Extract<Message, { type: Type }> {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type
}

/** A worker whose channel already closed (it is exiting) is skipped rather than thrown at. */
export function sendToWorker(worker: Worker, message: ToWorker): void {
  if (worker.isConnected()) worker.send(message)
}
