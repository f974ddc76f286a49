// The processes `npm run dev` runs, by entry file: dev.ts starts them, dev-bundle.ts makes their bundles ahead.
export const DEV_ENTRIES = { api: 'server/main.ts', proxy: 'proxy/main.ts' } as const
