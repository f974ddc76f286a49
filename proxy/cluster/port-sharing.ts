// How a cluster's workers share the public ports. `kernel`: each worker listens on a socket of its own with
// SO_REUSEPORT and Linux spreads new connections over them. `shared`: every worker accepts from one socket the
// primary opened (cluster.SCHED_NONE). Either way the primary is off the connection path. `primary`: node:cluster's
// default, the primary accepts every connection and hands it to a worker over IPC.
import cluster from 'node:cluster'
import { createServer } from 'node:net'
import { ConfigError } from '../../common/env-config.ts'

export type PortSharing = 'kernel' | 'shared' | 'primary'

/**
 * PROXY_PORT_SHARING. `auto` is `kernel` on Linux only: Node refuses `reusePort` where libuv has no SO_REUSEPORT
 * (Windows, macOS), and the BSDs' variants are untested here.
 */
export function resolvePortSharing(setting: 'auto' | PortSharing, platform: NodeJS.Platform): PortSharing {
  if (setting === 'primary' || setting === 'shared') return setting
  if (platform === 'linux') return 'kernel'
  if (setting === 'auto') return 'primary'
  throw new ConfigError([`PROXY_PORT_SHARING: "kernel" needs Linux's SO_REUSEPORT (this is ${platform}); use "auto"`])
}

/**
 * What a worker adds to listen() on a public port. `exclusive` keeps the socket out of node:cluster's hands.
 * Port 0 stays with the primary: a socket of each worker's own would get a port of its own.
 */
export function workerListenOptions(sharing: PortSharing, port: number): { reusePort?: boolean; exclusive?: boolean } {
  return sharing === 'kernel' && port !== 0 ? { reusePort: true, exclusive: true } : {}
}

/**
 * What the primary sets before its first fork (node:cluster reads the policy once, then): `shared` has the workers
 * accept from the one socket themselves. The others keep node:cluster's default.
 */
export function setSchedulingPolicy(sharing: PortSharing): void {
  if (sharing === 'shared') cluster.schedulingPolicy = cluster.SCHED_NONE
}

/**
 * Rejects with listen's own error (EADDRINUSE naming the address) if the port is taken. The primary asks before
 * it forks: SO_REUSEPORT would let the workers join a port that another process of the same user holds the same
 * way (a second proxy), and split its connections with it rather than fail as a taken port must.
 */
export async function assertPortFree(host: string, port: number): Promise<void> {
  const probe = createServer()
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject)
    probe.listen({ host, port }, resolve)
  })
  await new Promise<void>(resolve => probe.close(() => resolve()))
}
