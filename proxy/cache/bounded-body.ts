// Reading an upstream body the cache may keep: whole when it fits in one entry; once it proves larger (with no
// Content-Length to say so up front), handed on as one stream of all of it — what was read, then the rest at
// the pace the client reads — so the edge never holds more than an entry's worth of it.
import { PassThrough, pipeline, type Readable } from 'node:stream'

export interface BoundedBodyHandlers {
  /** The body ended within the bound. */
  whole(body: Buffer): void | Promise<void>
  /** The body passed the bound: all of it, from its first byte, flows through `body` (or is `body`, read already). */
  tooLarge(body: Buffer | Readable): void
  /** The body failed before either of the above. */
  failed(error: Error): void
}

export function readUpTo(stream: Buffer | Readable, maxBytes: number, on: BoundedBodyHandlers): void {
  const chunks: Buffer[] = []
  let held = 0
  // A handler that throws or rejects is a failure of this body, not an unhandled rejection that ends the process.
  const complete = (): void => {
    new Promise<void>(resolve => resolve(on.whole(Buffer.concat(chunks)))).catch(on.failed)
  }
  if (Buffer.isBuffer(stream)) {
    if (stream.length > maxBytes) return on.tooLarge(stream)
    chunks.push(stream)
    return complete()
  }
  const hold = (chunk: Buffer): void => {
    chunks.push(chunk)
    held += chunk.length
    if (held <= maxBytes) return
    stream.removeListener('data', hold)
    stream.removeListener('end', complete)
    stream.removeListener('error', on.failed)
    stream.pause()
    const body = new PassThrough()
    for (const read of chunks) body.write(read)
    // pipeline, not pipe: a client that goes away must also release the response from the API.
    pipeline(stream, body, () => {})
    on.tooLarge(body)
  }
  stream.on('data', hold)
  stream.on('error', on.failed)
  stream.on('end', complete)
}
