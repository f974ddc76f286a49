// Runs the chaos drill's misbehaving clients: loops that each pick their next action with a PRNG of their own
// (derived from the drill's seed, so the choices replay), bounded in count, in time and per action, and a
// journal of every action for the failure report.
import { Rng, Scope, sourceAddress, type ChaosContext, type ChaosTarget, type Misbehaviour } from './chaos-clients.ts'

export interface JournalEntry {
  client: number
  kind: string
  requestId: string
  startedAt: number
  endedAt?: number
  notes: string[]
  outcome?: string
  /** The local ends (address:port) of the connections it opened. */
  connections: string[]
}

export interface ChaosRun {
  journal: JournalEntry[]
  /** Ends every loop now (their open connections too); resolves once all have stopped. */
  stop(): Promise<void>
  /** Resolves when the loops end: at the end of the window (actions still running are cut short), or after stop(). */
  finished: Promise<void>
}

export interface ChaosPlan {
  seed: number
  clients: number
  durationMs: number
  /** No action lasts longer than this: its connections are destroyed then. */
  capMs: number
  /** No client runs more actions than this, however fast they go. */
  maxActionsPerClient: number
  misbehaviours: Record<string, Misbehaviour>
}

export function startChaos(target: ChaosTarget, plan: ChaosPlan, since = Date.now()): ChaosRun {
  const journal: JournalEntry[] = []
  const open = new Set<Scope>()
  let stopped = false
  const kinds = Object.keys(plan.misbehaviours)
  const loop = async (client: number): Promise<void> => {
    const rng = new Rng(plan.seed ^ Math.imul(client + 1, 0x9e3779b1))
    await new Promise(resolve => setTimeout(resolve, rng.int(1000))) // staggered
    for (let n = 0; n < plan.maxActionsPerClient && !stopped && Date.now() - since < plan.durationMs; n++) {
      const kind = rng.pick(kinds)
      const requestId = `chaos-${plan.seed}-${client}-${n}`
      const entry: JournalEntry = { client, kind, requestId, startedAt: Date.now() - since, notes: [], connections: [] }
      journal.push(entry)
      const scope = new Scope()
      open.add(scope)
      // At the cap the action's connections are destroyed and it is no longer waited for, whatever it awaits.
      let cap!: NodeJS.Timeout
      const capped = new Promise<string>(resolve => {
        cap = setTimeout(resolve, plan.capMs, `cut at the ${plan.capMs} ms cap`)
      })
      const ctx: ChaosContext = {
        rng,
        target,
        scope,
        requestId,
        source: sourceAddress(rng),
        note: text => {
          entry.notes.push(text)
        },
        connected: socket => {
          entry.connections.push(`${socket.localAddress}:${socket.localPort}`)
        },
      }
      try {
        entry.outcome = await Promise.race([plan.misbehaviours[kind]!(ctx), capped])
      } catch (error) {
        entry.outcome = `failed: ${(error as Error).message}`
      } finally {
        clearTimeout(cap)
        scope.close()
        open.delete(scope)
        entry.endedAt = Date.now() - since
      }
    }
  }
  const stop = (): void => {
    stopped = true
    for (const scope of open) scope.close()
  }
  // At the end of the window every action still running is cut short: its connections destroyed.
  const window = setTimeout(stop, Math.max(0, plan.durationMs - (Date.now() - since)))
  const loops = Array.from({ length: plan.clients }, (_, client) => loop(client))
  const finished = Promise.all(loops).then(() => {
    clearTimeout(window)
  })
  return {
    journal,
    finished,
    async stop() {
      stop()
      await finished
    },
  }
}
