// Refuses deep and expensive queries before they run. Cost: every field costs 1, and a list field's subtree costs as
// many times as the list may be long (`first`). Aliases and fragments are counted where they expand,
// so neither wide alias fans nor deep nesting get past it. Computed per request (the cost depends on
// variables), after mercurius' cached parse and validation.
// @see https://github.com/slicknode/graphql-query-complexity
import { Kind, type DocumentNode, type FragmentDefinitionNode, type GraphQLSchema, type OperationDefinitionNode, type SelectionSetNode } from 'graphql'
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

/**
 * Field nesting of the operation that will run, fragments expanded. Introspection (`__schema`, `__type`)
 * is not counted: it reads the schema, not the database, and GraphiQL's own introspection query is
 * 15 levels deep — a data-depth limit must not break the playground.
 */
export function queryDepth (document: DocumentNode, operationName: string | undefined): number {
  const fragments = new Map<string, FragmentDefinitionNode>()
  const operations: OperationDefinitionNode[] = []
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition)
    if (definition.kind === Kind.OPERATION_DEFINITION && (operationName === undefined || definition.name?.value === operationName)) operations.push(definition)
  }
  const depthOf = (set: SelectionSetNode | undefined, visiting: Set<string>): number => {
    let deepest = 0
    for (const selection of set?.selections ?? []) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value.startsWith('__')) continue
        deepest = Math.max(deepest, 1 + depthOf(selection.selectionSet, visiting))
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        deepest = Math.max(deepest, depthOf(selection.selectionSet, visiting))
      } else {
        const name = selection.name.value
        const fragment = fragments.get(name)
        if (fragment === undefined || visiting.has(name)) continue // validation refuses both before this runs
        deepest = Math.max(deepest, depthOf(fragment.selectionSet, new Set([...visiting, name])))
      }
    }
    return deepest
  }
  return Math.max(0, ...operations.map((operation) => depthOf(operation.selectionSet, new Set())))
}

export function assertQueryDepth (document: DocumentNode, operationName: string | undefined, maximumDepth: number): void {
  const depth = queryDepth(document, operationName)
  if (depth > maximumDepth) {
    throw new Errors.QueryTooDeep(`Query depth ${depth} exceeds the limit of ${maximumDepth}; select fewer nested levels`)
  }
}
