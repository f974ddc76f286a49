// The primary's one /metrics over its workers' registries (README: summed, readiness gauges the worst
// worker, a worker that does not answer left out). The whole path with real worker processes is in
// primary.test.ts; here each "worker" answers the primary's IPC request from a real edge-metrics registry
// in this process, so the cases a live cluster rarely shows on cue are forced: one worker seeing the API or
// Redis down, one that never answers, one that exits mid-scrape.
import cluster, { type Worker } from 'node:cluster'
import promClient from 'prom-client'
import t from 'tap'
import { clusterMetricsSource, createPrimaryMetrics } from '../../../proxy/cluster/cluster-metrics.ts'
import { isMessage, type ToWorker } from '../../../proxy/cluster/messages.ts'
import { createEdgeMetrics, type EdgeMetrics } from '../../../proxy/plugins/edge-metrics.ts'
import { seriesValue } from '../../helpers/proxy-process.ts'

let nextId = 1000

/** A worker as the primary sees it; `behaviour` decides how it takes a metrics request. */
function worker(metrics: EdgeMetrics, behaviour: 'answers' | 'silent' | 'exits' = 'answers'): Worker {
  const self = {
    id: nextId++,
    isConnected: () => true,
    send(message: unknown) {
      if (!isMessage<ToWorker, 'gatehouse:metrics-request'>(message, 'gatehouse:metrics-request')) return true
      if (behaviour === 'exits') setImmediate(() => cluster.emit('exit', self))
      if (behaviour === 'answers') {
        void metrics.registry
          .getMetricsAsJSON()
          .then(json => cluster.emit('message', self, { type: 'gatehouse:metrics', id: message.id, metrics: json }))
      }
      return true
    },
  } as unknown as Worker
  return self
}

t.test('counters add up over the workers; readiness gauges show the worst worker', async t => {
  const [a, b] = [createEdgeMetrics(), createEdgeMetrics()]
  a.requestsByProtocol.inc({ http_version: '2.0', tls_version: 'TLSv1.3' }, 3)
  b.requestsByProtocol.inc({ http_version: '2.0', tls_version: 'TLSv1.3' }, 4)
  a.upstreamUp.set({ upstream: 'http://api:3000' }, 1)
  b.upstreamUp.set({ upstream: 'http://api:3000' }, 0) // this worker's check found the API down
  a.redisUp.set(1)
  b.redisUp.set(0)
  const workers = [worker(a), worker(b)]
  const primary = createPrimaryMetrics(() => workers)
  const text = await clusterMetricsSource(primary.registry, () => workers).metrics()
  t.equal(seriesValue(text, 'gatehouse_proxy_requests_total{http_version="2.0",tls_version="TLSv1.3"}'), 7, 'summed')
  t.match(
    text,
    /^gatehouse_proxy_upstream_up\{upstream="http:\/\/api:3000"\} 0$/m,
    'down as soon as one worker sees it down',
  )
  t.match(text, /^gatehouse_proxy_redis_up 0$/m)
  t.equal(seriesValue(text, 'gatehouse_proxy_workers'), 2, "the primary's own series are in the sum")

  b.upstreamUp.set({ upstream: 'http://api:3000' }, 1)
  b.redisUp.set(1)
  const healthy = await clusterMetricsSource(new promClient.Registry(), () => workers).metrics()
  t.equal(
    seriesValue(healthy, 'gatehouse_proxy_upstream_up{upstream="http://api:3000"}'),
    1,
    'up is 1, not the number of workers',
  )
  t.equal(seriesValue(healthy, 'gatehouse_proxy_redis_up'), 1)
})

t.test('a worker that does not answer in time is left out instead of failing the scrape', async t => {
  const [a, b] = [createEdgeMetrics(), createEdgeMetrics()]
  a.upstreamErrors.inc({ kind: 'timeout' }, 1)
  b.upstreamErrors.inc({ kind: 'timeout' }, 10)
  const workers = [worker(a), worker(b, 'silent')]
  const text = await clusterMetricsSource(new promClient.Registry(), () => workers, { timeoutMs: 300 }).metrics()
  t.equal(
    seriesValue(text, 'gatehouse_proxy_upstream_errors_total{kind="timeout"}'),
    1,
    'only the worker that answered',
  )
})

// The scrape's own deadline is far beyond the test's: only noticing the exit can end it in time.
t.test('a worker that exits during a scrape is left out at once, not waited for', { timeout: 30_000 }, async t => {
  const [a, c] = [createEdgeMetrics(), createEdgeMetrics()]
  a.upstreamErrors.inc({ kind: 'timeout' }, 1)
  c.upstreamErrors.inc({ kind: 'timeout' }, 100)
  const workers = [worker(a), worker(c, 'exits')]
  const text = await clusterMetricsSource(new promClient.Registry(), () => workers, { timeoutMs: 600_000 }).metrics()
  t.equal(
    seriesValue(text, 'gatehouse_proxy_upstream_errors_total{kind="timeout"}'),
    1,
    'only the worker that answered',
  )
})
