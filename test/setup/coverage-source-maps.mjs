// Coverage needs tsx's source maps without `sourcesContent: [null]`: v8-to-istanbul takes that null for the original
// text and reports every file as one empty statement. Loaded after tsx in test processes (.taprc), and handed to the
// processes tests spawn through NODE_OPTIONS (tsx first, so this hook still runs after it). Idle without coverage:
// tap's processinfo (imported before this) marks a process it records coverage of, and Node's own coverage has its env.
import { register } from 'node:module'

if (process.env._TAPJS_PROCESSINFO_COVERAGE_ === '1' || process.env.NODE_V8_COVERAGE !== undefined) {
  register('./coverage-source-map-hooks.mjs', import.meta.url)
  const options = process.env.NODE_OPTIONS ?? ''
  if (!options.includes(import.meta.url)) {
    process.env.NODE_OPTIONS = `${options} --import=${import.meta.resolve('tsx')} --import=${import.meta.url}`.trim()
  }
}
