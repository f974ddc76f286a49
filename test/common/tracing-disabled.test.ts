// Without OTEL_EXPORTER_OTLP_ENDPOINT in their config, the proxy and the API trace nothing and load nothing
// for it: no tracer provider, no Prisma tracing hook, no context manager, not one export — even with the
// variable in this process's environment, which an SDK started behind the config's back would pick up.
import { context, createContextKey, ROOT_CONTEXT } from '@opentelemetry/api'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { tracerProvidersStarted } from '../../common/tracing.ts'
import { forEachBackend } from '../helpers/backends.ts'
import { startEdgeStack } from '../helpers/edge-stack.ts'

forEachBackend(t, async (t, backend) => {
  let received = 0
  const receiver = createServer((request, response) => {
    received++
    request.resume()
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
  })
  await new Promise<void>(resolve => receiver.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise(resolve => receiver.close(resolve)))
  const saved = process.env.OTEL_EXPORTER_OTLP_ENDPOINT
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`
  t.teardown(() => {
    if (saved === undefined) delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT
    else process.env.OTEL_EXPORTER_OTLP_ENDPOINT = saved
  })

  const stack = await startEdgeStack(t, backend)
  t.equal(stack.proxyConfig.tracing.otlpEndpoint, undefined, 'the proxy is not configured to trace')
  const alice = await stack.addLogin()
  const traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`
  const read = await stack.request('/api/v1/projects', { as: alice, http2: false, headers: { traceparent } })
  t.equal(read.status, 200)
  const write = await stack.request('/api/v1/projects', {
    as: alice,
    http2: false,
    method: 'POST',
    body: JSON.stringify({ name: 'Untraced' }),
  })
  t.equal(write.status, 201)

  t.notOk(stack.proxy.hasDecorator('edgeTracing'), 'the proxy has no tracing plugin')
  t.notOk(stack.api.hasPlugin('tracing'), 'the API has no tracing plugin')
  // Closing is when a provider would flush what it buffered.
  await stack.proxy.close()
  await stack.api.close()
  t.equal(received, 0, 'nothing was exported')
  t.equal(tracerProvidersStarted(), 0, 'no tracer provider was started')
  t.equal((globalThis as Record<string, unknown>).V7_PRISMA_INSTRUMENTATION, undefined, 'Prisma has no tracing hook')
  const key = createContextKey('probe')
  t.equal(
    context.with(ROOT_CONTEXT.setValue(key, 1), () => context.active().getValue(key)),
    undefined,
    'no context manager carries contexts (the no-op default is in place)',
  )
})
