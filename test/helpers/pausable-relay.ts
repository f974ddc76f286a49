// A TCP relay on loopback in front of a real server, which a test can pause: every connection stays open
// but nothing passes either way until it resumes (then what was held is delivered, as after a frozen host
// thaws), and new connections are accepted but not answered — what a client sees of a hung host or a
// stalled network. Closing either side closes the other, so a server behind it (the shared Postgres) sees
// a connection the client gave up on end, and cleans up after it.
import { connect, createServer, type Socket } from 'node:net'
import type { Test } from 'tap'

export interface PausableRelay {
  port: number
  pause(): void
  resume(): void
  /** Connections open through it right now. */
  open(): number
}

export async function startPausableRelay (t: Test, target: { host: string, port: number }): Promise<PausableRelay> {
  const pairs = new Set<[Socket, Socket]>()
  const held: Array<() => void> = []
  let paused = false
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host)
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    const forward = (from: Socket, to: Socket): void => {
      from.on('data', (chunk) => {
        if (paused) held.push(() => to.write(chunk))
        else to.write(chunk)
      })
    }
    forward(client, upstream)
    forward(upstream, client)
    const close = (): void => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    for (const socket of pair) {
      socket.on('close', close)
      socket.on('error', close)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const [client, upstream] of pairs) { client.destroy(); upstream.destroy() }
    await new Promise((resolve) => server.close(resolve))
  })
  return {
    port: (server.address() as { port: number }).port,
    pause: () => { paused = true },
    resume: () => {
      paused = false
      for (const deliver of held.splice(0)) deliver()
    },
    open: () => pairs.size,
  }
}
