// Read only by the Prisma CLI (generate, and migrate/studio wherever its engine can be downloaded).
// The application never reads this file: its settings come from server/config.ts.
import { defineConfig } from 'prisma/config'

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: {
    url: process.env.DATABASE_OWNER_URL ?? process.env.DATABASE_URL ?? 'postgresql://localhost:5432/gatehouse',
  },
})
