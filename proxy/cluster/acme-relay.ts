// ACME across the cluster: the primary alone orders and renews (one account, one lock holder, no race between
// workers), and relays to every worker each certificate and challenge answer; a worker asks the primary for
// an on-demand name its handshake met and waits for the outcome.
import type { Worker } from 'node:cluster'
import type { FastifyBaseLogger } from 'fastify'
import type { ProxyConfig } from '../config.ts'
import { CertificateBook } from '../tls/acme/certificate-book.ts'
import { Challenges, type ChallengeChange } from '../tls/acme/challenges.ts'
import { openAcmeStorage, type AcmeListeners, type EdgeAcme } from '../tls/acme/edge-acme.ts'
import { sniSelection } from '../tls/acme/sni.ts'
import { isMessage, sendToWorker, type ToPrimary, type ToWorker } from './messages.ts'

/** The primary's side: forwards `acme`'s changes to `workers()`; `handle` takes each worker message it understands. */
export function relayAcme(acme: EdgeAcme, workers: () => Worker[]) {
  const changes: ChallengeChange[] = []
  acme.book.onChange((name, material) => {
    for (const worker of workers()) {
      sendToWorker(
        worker,
        material === undefined
          ? { type: 'gatehouse:acme-forget', name }
          : { type: 'gatehouse:acme-certificate', name, ...material },
      )
    }
  })
  acme.challenges.onChange(change => {
    // Kept for workers started while the challenge is in flight (a replaced worker).
    const index = changes.findIndex(known => known.kind === change.kind && known.id === change.id)
    if (index !== -1) changes.splice(index, 1)
    if (change.answer !== undefined) changes.push(change)
    for (const worker of workers()) sendToWorker(worker, { type: 'gatehouse:acme-challenge', change })
  })
  return {
    /** True when the message was ACME's. */
    handle(worker: Worker, message: unknown): boolean {
      if (isMessage<ToPrimary, 'gatehouse:acme-request'>(message, 'gatehouse:acme-request')) {
        for (const name of acme.book.names()) {
          sendToWorker(worker, { type: 'gatehouse:acme-certificate', name, ...acme.book.get(name)!.material })
        }
        for (const change of changes) sendToWorker(worker, { type: 'gatehouse:acme-challenge', change })
        return true
      }
      if (isMessage<ToPrimary, 'gatehouse:acme-on-demand'>(message, 'gatehouse:acme-on-demand')) {
        acme.manager
          .serveOnDemand(message.name)
          .then(
            ok => ok,
            () => false,
          )
          .then(ok => {
            // The certificate went to every worker (book.onChange) before this answer: the worker finds it in its book.
            sendToWorker(worker, { type: 'gatehouse:acme-on-demand-result', id: message.id, ok })
          })
        return true
      }
      return false
    },
  }
}

function send(message: ToPrimary): void {
  if (process.connected) process.send?.(message)
}

/** A worker's side: its book and challenge answers are the primary's, and on-demand names are the primary's call. */
export function acmeFromPrimary(config: ProxyConfig, configured: string[], log: FastifyBaseLogger): AcmeListeners {
  const book = new CertificateBook()
  // With Redis, another proxy's primary may have placed the order the CA is validating here: its answers are there.
  const shared =
    config.redisUrl === undefined || config.acme === undefined
      ? undefined
      : openAcmeStorage(config.acme, config.redisUrl, log)
  const challenges = new Challenges(shared)
  const waiting = new Map<number, (ok: boolean) => void>()
  let nextId = 0
  process.on('message', (message: unknown) => {
    if (isMessage<ToWorker, 'gatehouse:acme-certificate'>(message, 'gatehouse:acme-certificate')) {
      book.set(message.name, { key: message.key, cert: message.cert })
    } else if (isMessage<ToWorker, 'gatehouse:acme-forget'>(message, 'gatehouse:acme-forget')) book.delete(message.name)
    else if (isMessage<ToWorker, 'gatehouse:acme-challenge'>(message, 'gatehouse:acme-challenge')) {
      challenges.apply(message.change)
    } else if (isMessage<ToWorker, 'gatehouse:acme-on-demand-result'>(message, 'gatehouse:acme-on-demand-result')) {
      waiting.get(message.id)?.(message.ok)
      waiting.delete(message.id)
    }
  })
  send({ type: 'gatehouse:acme-request' })
  const onDemand = (name: string): Promise<boolean> =>
    new Promise(resolve => {
      const id = nextId++
      // A primary that never answers (it is going away) must not hold the handshake past its own deadline.
      const timer = setTimeout(() => {
        waiting.delete(id)
        resolve(false)
      }, config.clientTimeouts.headersMs)
      waiting.set(id, ok => {
        clearTimeout(timer)
        resolve(ok)
      })
      send({ type: 'gatehouse:acme-on-demand', id, name })
    })
  return {
    sni: sniSelection({
      book,
      challenges,
      configured,
      tlsAlpn: config.acme?.challenges.includes('tls-alpn-01') ?? false,
      onDemand,
    }),
    httpAnswer: token => challenges.httpAnswer(token),
    async close() {
      await shared?.close()
    },
  }
}
