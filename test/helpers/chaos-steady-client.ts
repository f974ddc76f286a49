// The chaos drill's well-behaved client: loops that create a project through the edge, read it back by id and
// list projects, again and again, over HTTP/1.1 (an undici Client each) and HTTP/2 (a node:http2 session each:
// not undici, whose HTTP/2 client fails requests on a GOAWAY the server goes on to honour; see keep-alive-load.ts).
// Every request is recorded with an x-request-id naming it (steady-<loop>-<n>-<op>), for the edge's log lines.
import { connect as connectHttp2, type ClientHttp2Session } from 'node:http2'
import { Client } from 'undici'

export interface SteadyOutcome {
  /** When it was sent, in ms since the client started. */
  at: number
  requestId: string
  protocol: 'h1' | 'h2'
  op: 'create' | 'read back' | 'list'
  /** 0 when no answer came. */
  status: number
  /** The expected status, and a body that says the right thing (the project created, the same name read back). */
  ok: boolean
  error?: string
}

export interface SteadyPlan {
  h1: number
  h2: number
  /** The loops end by this (or at stop()), whatever happens to the test. */
  maxMs: number
}

export interface SteadyTarget {
  port: number
  ca: string
  authorization: string
}

interface Answer {
  status: number
  text: string
}

/** One request, its answer read whole. */
type Exchange = (requestId: string, method: string, path: string, body?: string) => Promise<Answer>

const ANSWER_MS = 15_000

function overHttp1(target: SteadyTarget): { exchange: Exchange; close(): Promise<void> } {
  const client = new Client(`https://127.0.0.1:${target.port}`, {
    connect: { ca: target.ca, servername: 'localhost' },
    headersTimeout: ANSWER_MS,
    bodyTimeout: ANSWER_MS,
  })
  return {
    async exchange(requestId, method, path, body) {
      const headers = {
        authorization: target.authorization,
        'x-request-id': requestId,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      }
      const response = await client.request({
        method: method as 'GET',
        path,
        headers,
        ...(body !== undefined ? { body } : {}),
      })
      return { status: response.statusCode, text: await response.body.text() }
    },
    close: () => client.close(),
  }
}

function overHttp2(target: SteadyTarget): { exchange: Exchange; close(): Promise<void> } {
  let session: ClientHttp2Session | undefined
  const current = (): ClientHttp2Session => {
    if (session === undefined || session.closed || session.destroyed) {
      session = connectHttp2(`https://localhost:${target.port}`, { ca: target.ca, host: '127.0.0.1' } as never)
      session.on('error', () => {})
    }
    return session
  }
  return {
    exchange: (requestId, method, path, body) =>
      new Promise((resolve, reject) => {
        const stream = current().request({
          ':method': method,
          ':path': path,
          authorization: target.authorization,
          'x-request-id': requestId,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        })
        const timer = setTimeout(() => {
          stream.close()
          reject(new Error(`no answer in ${ANSWER_MS} ms`))
        }, ANSWER_MS)
        let status = 0
        let text = ''
        stream.setEncoding('utf8')
        stream.on('response', headers => {
          status = Number(headers[':status'])
        })
        stream.on('data', (chunk: string) => {
          text += chunk
        })
        stream.on('error', error => {
          clearTimeout(timer)
          reject(error)
        })
        stream.on('close', () => {
          clearTimeout(timer)
          // A stream the edge reset closes with an error code, maybe without an 'error' event.
          if (status !== 0 && stream.rstCode === 0) resolve({ status, text })
          else reject(new Error(`stream closed with code ${stream.rstCode} (status ${status})`))
        })
        stream.end(body)
      }),
    close: async () => {
      session?.close()
    },
  }
}

export function startSteadyClient(target: SteadyTarget, plan: SteadyPlan, since = Date.now()) {
  const outcomes: SteadyOutcome[] = []
  let stopped = false

  const run = async (protocol: 'h1' | 'h2', index: number): Promise<void> => {
    const connection = protocol === 'h1' ? overHttp1(target) : overHttp2(target)
    let n = 0
    /** The parsed body when the answer was right, else undefined (and the outcome says why). */
    const attempt = async (
      op: SteadyOutcome['op'],
      expected: number,
      check: (json: any) => boolean,
      method: string,
      path: string,
      body?: string,
    ): Promise<any> => {
      const at = Date.now() - since
      const requestId = `steady-${protocol}${index}-${n}-${op.replace(' ', '-')}`
      try {
        const { status, text } = await connection.exchange(requestId, method, path, body)
        const json = text === '' ? undefined : JSON.parse(text)
        const ok = status === expected && check(json)
        outcomes.push({ at, requestId, protocol, op, status, ok, ...(ok ? {} : { error: text.slice(0, 300) }) })
        return ok ? json : undefined
      } catch (error) {
        const message = `${(error as { code?: string }).code ?? ''} ${(error as Error).message}`
        outcomes.push({ at, requestId, protocol, op, status: 0, ok: false, error: message })
        return undefined
      }
    }
    try {
      for (; !stopped && Date.now() - since < plan.maxMs; n++) {
        const name = `steady ${protocol}-${index}-${n}`
        const named = (json: any): boolean => json?.name === name
        const created = await attempt('create', 201, named, 'POST', '/api/v1/projects', JSON.stringify({ name }))
        if (created !== undefined) await attempt('read back', 200, named, 'GET', `/api/v1/projects/${created.id}`)
        await attempt('list', 200, json => Array.isArray(json?.data), 'GET', '/api/v1/projects?limit=5')
        await new Promise(resolve => setTimeout(resolve, 25))
      }
    } finally {
      await connection.close()
    }
  }
  const finished = Promise.all([
    ...Array.from({ length: plan.h1 }, (_, i) => run('h1', i)),
    ...Array.from({ length: plan.h2 }, (_, i) => run('h2', i)),
  ]).then(() => {})
  return {
    outcomes,
    stop: async () => {
      stopped = true
      await finished
    },
  }
}
