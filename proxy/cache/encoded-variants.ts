// The coded variants of cached responses (zstd, Brotli, gzip): each kept as an entry of its own beside the
// uncoded one, under the same key id in a segment per coding, so the store's entry and byte limits (and a tenant's
// generation, which every key holds) bound and invalidate them like any entry. Made once, on the first request
// that asks for the coding; every later hit for that coding costs no compression.
import type { Clock } from '../../common/clock.ts'
import { encodeSync } from '../compression/codecs.ts'
import type { Encoding } from '../compression/negotiation.ts'
import { responseVaries, varyWithAcceptEncoding, weakEtag, type CompressionSettings } from '../compression/policy.ts'
import type { CacheKey, CachedResponse, ResponseStore } from './response-store.ts'

// The same id as the entry's, so the store hashes it once for the entry and all its variants (flatKey).
export const variantKey = (key: CacheKey, encoding: Encoding): CacheKey => ({
  segment: `${key.segment}-${encoding}`,
  id: key.id,
})

export class EncodedVariants {
  private readonly store: ResponseStore
  private readonly settings: CompressionSettings
  private readonly clock: Clock
  constructor(store: ResponseStore, settings: CompressionSettings, clock: Clock) {
    this.store = store
    this.settings = settings
    this.clock = clock
  }

  /** Marks an uncoded entry about to be stored as one to code for those who ask; its Vary then says so. */
  prepare(entry: CachedResponse): void {
    if (!this.settings.enabled || !responseVaries(entry.status, entry.headers, entry.body.length, this.settings)) return
    entry.headers.vary = varyWithAcceptEncoding(entry.headers.vary)
    entry.encodable = true
  }

  async find(key: CacheKey, encoding: Encoding): Promise<CachedResponse | undefined> {
    return (await this.store.get(variantKey(key, encoding)))?.item
  }

  /** The entry coded: same lifetimes and Vary values, its body compressed, its ETag weak. */
  make(entry: CachedResponse, encoding: Encoding): CachedResponse {
    const headers: CachedResponse['headers'] = { ...entry.headers, 'content-encoding': encoding }
    const etag = weakEtag(entry.headers.etag)
    if (etag !== undefined) headers.etag = etag
    const body = encodeSync(encoding, entry.body, this.settings.levels[encoding])
    return { ...entry, headers, body, encodable: false }
  }

  async keep(key: CacheKey, encoding: Encoding, variant: CachedResponse): Promise<void> {
    await this.store.set(variantKey(key, encoding), variant, variant.staleUntil - this.clock.now())
  }

  /**
   * A new uncoded entry was stored: variants made from the one it replaces are dropped (they could still be
   * fresh after a revalidation), and the coding this request asked for, if any, is made and kept.
   */
  async replaced(
    key: CacheKey,
    entry: CachedResponse,
    encoding: Encoding | 'identity',
  ): Promise<CachedResponse | undefined> {
    // Compression off: no variant is made or served, so none needs dropping (a store round trip per miss each).
    if (!this.settings.enabled) return undefined
    const variant = encoding !== 'identity' && entry.encodable === true ? this.make(entry, encoding) : undefined
    await Promise.all(
      this.settings.encodings.map(each =>
        each === encoding && variant !== undefined
          ? this.keep(key, each, variant)
          : this.store.delete(variantKey(key, each)),
      ),
    )
    return variant
  }
}
