// A fresh API app over a shared test database, closed when the test ends.
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import { signIdentity } from '../../common/identity-signature.ts'
import { buildApp } from '../../server/app.ts'
import { loadServerConfig, type ServerConfig } from '../../server/config.ts'
import type { Backend, TestTenant } from './backends.ts'

export const TEST_IDENTITY_SECRET = 'test-secret-that-is-at-least-32-characters-long'

export function testConfig(backend: Backend, env: Record<string, string> = {}): ServerConfig {
  const config = loadServerConfig({ IDENTITY_SECRET: TEST_IDENTITY_SECRET, LOG_LEVEL: 'silent', ...env })
  return { ...config, database: backend.config }
}

export async function buildTestApp(
  t: Test,
  backend: Backend,
  env: Record<string, string> = {},
): Promise<FastifyInstance> {
  const app = await buildApp(testConfig(backend, env), { database: backend.database })
  t.teardown(() => app.close())
  await app.ready()
  return app
}

export interface Caller {
  tenant: TestTenant
  user: string
  /** app.inject with identity headers signed as the proxy would. */
  request(options: InjectOptions & { method: string; url: string }): Promise<LightMyRequestResponse>
  get(url: string): Promise<LightMyRequestResponse>
  post(url: string, body: unknown): Promise<LightMyRequestResponse>
  patch(url: string, body: unknown): Promise<LightMyRequestResponse>
  delete(url: string): Promise<LightMyRequestResponse>
  graphql(query: string, variables?: Record<string, unknown>): Promise<LightMyRequestResponse>
}

function signableBody(payload: InjectOptions['payload']): Buffer | string | undefined {
  if (payload === undefined || typeof payload === 'string' || Buffer.isBuffer(payload)) return payload
  if (typeof (payload as { pipe?: unknown }).pipe === 'function') {
    throw new Error('callerFor signs whole bodies; send a stream with app.inject')
  }
  return JSON.stringify(payload)
}

export function callerFor(
  app: FastifyInstance,
  tenant: TestTenant,
  user = 'alice',
  secret = TEST_IDENTITY_SECRET,
): Caller {
  const request: Caller['request'] = async options => {
    // The body is signed as the bytes inject will send: an object is sent as its JSON, as inject would.
    const body = signableBody(options.payload)
    const signed = signIdentity(secret, {
      tenant: tenant.slug,
      user,
      requestId: `test-${Math.random().toString(36).slice(2)}`,
      method: options.method,
      url: options.url,
      body,
    })
    return app.inject({
      ...options,
      ...(body !== undefined ? { payload: body } : {}),
      method: options.method as never,
      headers: { ...signed, ...(options.headers ?? {}) },
    })
  }
  const json = (method: string) => (url: string, body: unknown) =>
    request({ method, url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) })
  return {
    tenant,
    user,
    request,
    get: url => request({ method: 'GET', url }),
    post: json('POST'),
    patch: json('PATCH'),
    delete: url => request({ method: 'DELETE', url }),
    graphql: (query, variables) =>
      json('POST')('/graphql', { query, ...(variables !== undefined ? { variables } : {}) }),
  }
}
