import { Type } from 'typebox'

// Postgres text cannot hold a NUL character, nor a lone UTF-16 surrogate (JSON can spell one, "\ud800", and it
// would be stored as U+FFFD: not what was sent): refused here, with a pointer, rather than altered or failing in
// the database. TypeBox compiles patterns with the u flag, so a surrogate pair is one code point outside the
// class and only unpaired halves match it. Both patterns are anchored and linear: a megabyte costs one pass.
export const NO_NUL = '^[^\\u0000\\uD800-\\uDFFF]*$'
/** No NUL or lone surrogate, and at least one character that is not white space. */
export const NOT_BLANK = '^(?=[^\\u0000\\uD800-\\uDFFF]*$)\\s*\\S'

export const Uuid = Type.String({ format: 'uuid', description: 'UUID' })
export const IdParams = Type.Object({ id: Uuid }, { additionalProperties: false })

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Items per page' })),
  cursor: Type.Optional(
    Type.String({ minLength: 1, maxLength: 512, description: 'The `next` value of the previous page' }),
  ),
}

/** A page of items and the cursor of the next page (null on the last). */
export const Page = <T extends ReturnType<typeof Type.Object>>(item: T, name: string) =>
  Type.Object(
    {
      data: Type.Array(item),
      next: Type.Union([Type.String(), Type.Null()]),
    },
    { title: name },
  )
