// A TCP relay on loopback in front of a real server, which a test can break the way networks and hosts
// break, without touching the server itself (the shared Postgres):
// - pause: every connection stays open but nothing passes either way until resume (then what was held is
//   delivered, as after a frozen host thaws), and new connections are accepted but not answered — a hung
//   host or a stalled network;
// - cut: every connection is closed and new ones are closed as soon as they arrive, until restore — a
//   server that went away;
// - lose replies after a request: once a client sends bytes containing a marker (e.g. COMMIT), what the
//   server answers is held back from then on — the request did its work, its answer is lost on the way.
// Closing either side closes the other, so the server behind sees a connection the client gave up on end,
// and cleans up after it.
import { connect, createServer, type Socket } from 'node:net'
import type { Test } from 'tap'

export interface FaultyRelay {
  port: number
  pause(): void
  resume(): void
  cut(): void
  restore(): void
  /** Holds back the server's answers from when a client sends `marker`, until resume. */
  loseRepliesAfter(marker: string): void
  /** Connections open through it right now. */
  open(): number
}

export async function startFaultyRelay(t: Test, target: { host: string; port: number }): Promise<FaultyRelay> {
  const pairs = new Set<[Socket, Socket]>()
  const held: Array<() => void> = []
  let paused = false
  let cut = false
  let repliesHeld = false
  let replyMarker: string | undefined
  const server = createServer(client => {
    if (cut) {
      client.destroy()
      return
    }
    const upstream = connect(target.port, target.host)
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    const forward = (from: Socket, to: Socket, isReply: boolean): void => {
      from.on('data', (chunk: Buffer) => {
        if (!isReply && replyMarker !== undefined && chunk.includes(replyMarker)) repliesHeld = true
        if (paused || (isReply && repliesHeld)) held.push(() => to.write(chunk))
        else to.write(chunk)
      })
    }
    forward(client, upstream, false)
    forward(upstream, client, true)
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
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const closeAll = (): void => {
    for (const [client, upstream] of pairs) {
      client.destroy()
      upstream.destroy()
    }
  }
  t.teardown(async () => {
    closeAll()
    await new Promise(resolve => server.close(resolve))
  })
  return {
    port: (server.address() as { port: number }).port,
    pause: () => {
      paused = true
    },
    resume: () => {
      paused = false
      repliesHeld = false
      replyMarker = undefined
      for (const deliver of held.splice(0)) deliver()
    },
    cut: () => {
      cut = true
      closeAll()
    },
    restore: () => {
      cut = false
    },
    loseRepliesAfter: marker => {
      replyMarker = marker
    },
    open: () => pairs.size,
  }
}

/** A relay in front of the Postgres server `url` points at, and the same URL through it. */
export async function relayPostgres(t: Test, url: string): Promise<{ relay: FaultyRelay; url: string }> {
  const target = new URL(url)
  const relay = await startFaultyRelay(t, {
    host: target.hostname,
    port: Number(target.port === '' ? 5432 : target.port),
  })
  const through = new URL(url)
  through.port = String(relay.port)
  return { relay, url: through.toString() }
}
