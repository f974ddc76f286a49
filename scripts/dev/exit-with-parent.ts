// Preloaded into each process `npm run dev` starts. They run in process groups of their own (so Ctrl-C reaches
// them once, through dev), which also means nothing stops them if dev dies without forwarding a signal (SIGKILL,
// a crash): dev's end of the IPC channel then closes, and the process drains as on SIGTERM instead of living on
// holding the ports and the database.
import cluster from 'node:cluster'

// A proxy cluster's workers inherit this preload; their channel is the cluster's, which the primary manages.
if (cluster.isPrimary) {
  // The channel must not keep the process alive by itself: a process that has finished should still exit.
  process.channel?.unref()
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'))
}
