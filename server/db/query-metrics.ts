// Times every Prisma operation, so /metrics shows database latency by model and operation.
import { Prisma } from './prisma-client.ts'

export type QueryObserver = (
  labels: { model: string; operation: string; outcome: 'ok' | 'error' },
  seconds: number,
) => void

export const queryMetrics = (observe: QueryObserver) =>
  Prisma.defineExtension({
    name: 'query-metrics',
    query: {
      async $allOperations({ model, operation, args, query }) {
        const started = process.hrtime.bigint()
        let outcome: 'ok' | 'error' = 'ok'
        try {
          return await query(args)
        } catch (error) {
          outcome = 'error'
          throw error
        } finally {
          observe({ model: model ?? 'raw', operation, outcome }, Number(process.hrtime.bigint() - started) / 1e9)
        }
      },
    },
  })
