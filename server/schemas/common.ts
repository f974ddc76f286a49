import { Type } from 'typebox'

// Postgres text cannot hold a NUL character: refused here, with a pointer, rather than failing in the database.
// Both patterns are anchored and linear, so even a megabyte of input costs one pass.
export const NO_NUL = '^[^\\u0000]*$'
/** No NUL, and at least one character that is not white space. */
export const NOT_BLANK = '^(?=[^\\u0000]*$)\\s*\\S'

export const Uuid = Type.String({ format: 'uuid', description: 'UUID' })
export const IdParams = Type.Object({ id: Uuid }, { additionalProperties: false })

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Items per page' })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'The `next` value of the previous page' })),
}

/** A page of items and the cursor of the next page (null on the last). */
export const Page = <T extends ReturnType<typeof Type.Object>>(item: T, name: string) => Type.Object({
  data: Type.Array(item),
  next: Type.Union([Type.String(), Type.Null()]),
}, { title: name })
