// A tenant's own hostnames (REST and GraphQL). The name's full rules are common/hostname.ts; the schema bounds it.
import { Type, type Static } from 'typebox'
import { Uuid } from './common.ts'

/** Before validation a name may still be Unicode (IDNA): up to four times its punycode length. */
const HostnameInput = Type.String({
  minLength: 1,
  maxLength: 1012,
  description: 'A hostname such as api.acme-corp.com (Unicode names are stored as punycode)',
})

export const DomainSchema = Type.Object(
  {
    id: Uuid,
    hostname: Type.String({ description: 'Lowercase; IDNA names as punycode' }),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Domain', title: 'Domain' },
)

export const DomainListSchema = Type.Object({ data: Type.Array(DomainSchema) }, { title: 'DomainList' })

export const AddDomainBody = Type.Object(
  { hostname: HostnameInput },
  { additionalProperties: false, title: 'AddDomain' },
)

export const HostnameParams = Type.Object({ hostname: HostnameInput }, { additionalProperties: false })

export type DomainDto = Static<typeof DomainSchema>
