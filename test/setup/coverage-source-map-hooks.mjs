// The load hook behind coverage-source-maps.mjs: drops an all-null `sourcesContent` from a TypeScript module's
// inline source map, so the coverage carries no empty text and v8-to-istanbul reads the file the map names.
const INLINE_MAP = /\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/

/** The loaded module with its inline map mended, or as it was. */
function mended(url, result) {
  if (!url.startsWith('file:') || !/\.[cm]?tsx?$/.test(url) || result.source == null) return result
  const source = typeof result.source === 'string' ? result.source : Buffer.from(result.source).toString('utf8')
  const match = INLINE_MAP.exec(source)
  if (match === null) return result
  const map = JSON.parse(Buffer.from(match[1], 'base64').toString('utf8'))
  if (!Array.isArray(map.sourcesContent) || map.sourcesContent.some(content => content != null)) return result
  delete map.sourcesContent
  const inline = Buffer.from(JSON.stringify(map)).toString('base64')
  return {
    ...result,
    source: `${source.slice(0, match.index)}//# sourceMappingURL=data:application/json;base64,${inline}\n`,
  }
}

/** For module.registerHooks (in-thread, as tsx ≥ 4.20 registers its own): wraps tsx's load when registered after it. */
export function loadSync(url, context, nextLoad) {
  return mended(url, nextLoad(url, context))
}

/** For module.register (off-thread), where tsx registers that way. */
export async function load(url, context, nextLoad) {
  return mended(url, await nextLoad(url, context))
}
