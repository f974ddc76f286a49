// One /metrics for the whole proxy. When scraped, the primary asks every worker for its registry (as JSON
// over IPC) and adds them up with its own (prom-client's AggregatorRegistry.aggregate: counters and
// histograms summed, gauges by the aggregator each declares — process CPU and memory add up to the
// proxy's total, readiness gauges take the worst worker). Workers cannot share the metrics port: a
// scrape would reach one of them at random and see a fraction of the traffic.
// A worker that exits or does not answer in time is left out of that scrape rather than failing it.
// Counters restart from zero when a worker is replaced, so the sum drops: Prometheus' rate() treats
// that as a counter reset.
// @see https://github.com/siimon/prom-client#usage-with-nodejss-cluster-module
import cluster, { type Worker } from 'node:cluster'
import promClient, { AggregatorRegistry, type Registry } from 'prom-client'
import type { MetricsSource } from '../servers.ts'
import { isMessage, sendToWorker, type MetricsJson, type ToPrimary } from './messages.ts'

/** The primary's own series: its process (it accepts every connection) and the pool's state. */
export function createPrimaryMetrics(workers: () => Worker[]) {
  const registry = new promClient.Registry()
  promClient.collectDefaultMetrics({ register: registry })
  const registers = [registry]
  return {
    registry,
    workers: new promClient.Gauge({
      name: 'gatehouse_proxy_workers',
      help: 'Worker processes alive (PROXY_WORKERS)',
      registers,
      collect() {
        this.set(workers().length)
      },
    }),
    workerRestarts: new promClient.Counter({
      name: 'gatehouse_proxy_worker_restarts_total',
      help: 'Workers replaced after they died',
      registers,
    }),
  }
}

interface Scrape {
  results: MetricsJson[]
  waiting: Set<number>
  done(): void
}

export function clusterMetricsSource(
  primary: Registry,
  workers: () => Worker[],
  { timeoutMs = 3000 } = {},
): MetricsSource {
  const scrapes = new Map<number, Scrape>()
  let nextId = 0

  cluster.on('message', (worker: Worker, message: unknown) => {
    if (!isMessage<ToPrimary, 'gatehouse:metrics'>(message, 'gatehouse:metrics')) return
    const scrape = scrapes.get(message.id)
    if (scrape === undefined || !scrape.waiting.delete(worker.id)) return
    scrape.results.push(message.metrics)
    if (scrape.waiting.size === 0) scrape.done()
  })
  cluster.on('exit', (worker: Worker) => {
    for (const scrape of scrapes.values()) {
      if (scrape.waiting.delete(worker.id) && scrape.waiting.size === 0) scrape.done()
    }
  })

  const collect = async (): Promise<MetricsJson[]> => {
    const id = nextId++
    const asked = workers().filter(worker => worker.isConnected())
    const results: MetricsJson[] = []
    await new Promise<void>(resolve => {
      const timer = setTimeout(resolve, timeoutMs)
      const done = (): void => {
        clearTimeout(timer)
        resolve()
      }
      scrapes.set(id, { results, waiting: new Set(asked.map(worker => worker.id)), done })
      if (asked.length === 0) done()
      for (const worker of asked) sendToWorker(worker, { type: 'gatehouse:metrics-request', id })
    })
    scrapes.delete(id)
    return results
  }

  return {
    contentType: primary.contentType,
    async metrics() {
      const [fromWorkers, own] = await Promise.all([collect(), primary.getMetricsAsJSON()])
      return AggregatorRegistry.aggregate([...fromWorkers, own]).metrics()
    },
  }
}
