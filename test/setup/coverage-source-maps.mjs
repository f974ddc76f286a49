// Coverage needs tsx's source maps without `sourcesContent: [null]`: v8-to-istanbul takes that null for the original
// text and reports every file as one empty statement. Loaded after tsx in test processes (.taprc), and handed to the
// processes tests spawn through NODE_OPTIONS (tsx first, so this hook still runs after it). Idle without coverage:
// tap's processinfo (imported before this) marks a process it records coverage of, and Node's own coverage has its env.
import module from 'node:module'
import { loadSync } from './coverage-source-map-hooks.mjs'

if (process.env._TAPJS_PROCESSINFO_COVERAGE_ === '1' || process.env.NODE_V8_COVERAGE !== undefined) {
  // tsx ≥ 4.20 transforms in in-thread hooks (module.registerHooks) where Node has them: an off-thread hook never sees
  // its output, and every map went into the coverage with `sourcesContent: [null]` (one empty statement per file).
  if (typeof module.registerHooks === 'function') module.registerHooks({ load: loadSync })
  else module.register('./coverage-source-map-hooks.mjs', import.meta.url)
  const options = process.env.NODE_OPTIONS ?? ''
  if (!options.includes(import.meta.url)) {
    process.env.NODE_OPTIONS = `${options} --import=${import.meta.resolve('tsx')} --import=${import.meta.url}`.trim()
  }
}
