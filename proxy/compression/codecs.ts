// node:zlib for each coding the edge speaks: one-shot encoding of bodies already in memory (synchronous: for a
// few kB the thread pool's round trip costs more than the work), streams for the rest, and bounded decoding of
// request bodies, whose output stops at the limit however small the input was (a zip bomb).
import {
  brotliCompressSync,
  brotliDecompress,
  constants,
  createBrotliCompress,
  createGzip,
  createZstdCompress,
  gunzip,
  gzipSync,
  zstdCompressSync,
  zstdDecompress,
  type Gzip,
} from 'node:zlib'
import type { Transform } from 'node:stream'
import type { Encoding } from './negotiation.ts'

const brotliParams = (level: number, size?: number): Record<number, number> => ({
  [constants.BROTLI_PARAM_QUALITY]: level,
  [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
  ...(size !== undefined ? { [constants.BROTLI_PARAM_SIZE_HINT]: size } : {}),
})
const zstdParams = (level: number): Record<number, number> => ({ [constants.ZSTD_c_compressionLevel]: level })

/** log2 of the smallest window that holds the whole body: less state to set up for a small body, same output. */
const windowBits = (size: number, min: number, max: number): number =>
  Math.max(min, Math.min(max, Math.ceil(Math.log2(size + 262))))

/**
 * The coder's output buffer, sized to what a body of this size codes to: a quarter of it, in powers of two from 1 to
 * 16 kB (zlib's default, which every call would otherwise allocate anew). A 16 kB buffer per call made a 4.6 kB page's
 * coding cost 2–4× as much in a process with a large heap (the proxy's), in the collections it set off, as in a
 * small one; one a little too small costs only another buffer and a concatenation.
 */
const outputChunk = (size: number): number => 2 ** Math.min(14, Math.max(10, Math.ceil(Math.log2(size / 4))))

/**
 * One body in memory, coded at once. Each coder is told the body's size (a window no larger than it, Brotli's size
 * hint, zstd's pledged size, an output buffer to match), which for a page of JSON cuts the coder's setup, most of
 * the cost, by up to half.
 */
export function encodeSync(encoding: Encoding, body: Buffer, level: number): Buffer {
  const chunkSize = outputChunk(body.length)
  switch (encoding) {
    case 'gzip': {
      // As nginx sizes its deflate state for a response of known length: each step down in window, one in memLevel.
      const bits = windowBits(body.length, 9, 15)
      return gzipSync(body, { level, windowBits: bits, memLevel: Math.max(1, 8 - (15 - bits)), chunkSize })
    }
    case 'br':
      return brotliCompressSync(body, {
        chunkSize,
        params: {
          ...brotliParams(level, body.length),
          [constants.BROTLI_PARAM_LGWIN]: windowBits(body.length, 10, 24),
        },
      })
    case 'zstd':
      return zstdCompressSync(body, { chunkSize, params: zstdParams(level), pledgedSrcSize: body.length })
  }
}

export function encoderStream(encoding: Encoding, level: number): Transform | Gzip {
  switch (encoding) {
    case 'gzip':
      return createGzip({ level })
    case 'br':
      return createBrotliCompress({ params: brotliParams(level) })
    case 'zstd':
      return createZstdCompress({ params: zstdParams(level) })
  }
}

/** The codings a request body may arrive in; anything else is refused (415). */
export const REQUEST_CODINGS: Record<string, Encoding> = { gzip: 'gzip', 'x-gzip': 'gzip', br: 'br', zstd: 'zstd' }

export type DecodeFailure = 'too-large' | 'corrupt'

/** Decodes off the event loop (zlib's thread pool); more than maxBytes of output stops it: 'too-large'. */
export function decodeBody(
  encoding: Encoding,
  body: Buffer,
  maxBytes: number,
  done: (failure: DecodeFailure | null, decoded?: Buffer) => void,
): void {
  const finish = (error: Error | null, decoded: Buffer): void => {
    if (error === null) return done(null, decoded)
    done((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' ? 'too-large' : 'corrupt')
  }
  const options = { maxOutputLength: maxBytes }
  switch (encoding) {
    case 'gzip':
      return gunzip(body, options, finish)
    case 'br':
      return brotliDecompress(body, options, finish)
    case 'zstd':
      return zstdDecompress(body, options, finish)
  }
}
