// Refuses expensive queries before they run: every field costs 1, and a list field's subtree costs as
// many times as the list may be long (`first`). Aliases and fragments are counted where they expand,
// so neither wide alias fans nor deep nesting get past it. Computed per request (the cost depends on
// variables), after mercurius' cached parse and validation.
// @see https://github.com/slicknode/graphql-query-complexity
import { Kind, type DocumentNode, type GraphQLSchema } from 'graphql'
import { getComplexity, type ComplexityEstimator } from 'graphql-query-complexity'
import { Errors } from '../errors.js'

const listMultiplier: ComplexityEstimator = ({ args, childComplexity }) => {
  const first = typeof args.first === 'number' ? Math.max(args.first, 1) : 1
  return 1 + childComplexity * first
}

export function assertQueryCost (
  schema: GraphQLSchema, document: DocumentNode, variables: Record<string, unknown> | undefined,
  operationName: string | undefined, maximumCost: number,
): number {
  // graphql-query-complexity reads `operation.name.value` unguarded, so a name that matches no operation
  // (or an anonymous one) would crash it into a 500; it is the client's mistake, and execution would refuse it.
  if (operationName !== undefined && !document.definitions.some((definition) =>
    definition.kind === Kind.OPERATION_DEFINITION && definition.name?.value === operationName)) {
    throw new Errors.InvalidInput(`Unknown operation named "${operationName}"`)
  }
  const cost = getComplexity({ schema, query: document, variables: variables ?? {}, operationName, estimators: [listMultiplier] })
  if (cost > maximumCost) {
    throw new Errors.QueryTooComplex(`Query cost ${cost} exceeds the limit of ${maximumCost}; ask for fewer items or fields`)
  }
  return cost
}
