// Refuses deep and expensive queries before they run. Cost: every field costs 1, and a list field's subtree costs as
// many times as the list may be long (`first`). Aliases and fragments are counted where they expand,
// so neither wide alias fans nor deep nesting get past it. Computed per request (the cost depends on
// variables), after mercurius' cached parse and validation.
// @see https://github.com/slicknode/graphql-query-complexity
import {
  getIntrospectionQuery,
  GraphQLError,
  isAbstractType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  Kind,
  parse,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql'
import { getComplexity, type ComplexityEstimator } from 'graphql-query-complexity'
import { Errors } from '../../common/problem.ts'

const listMultiplier: ComplexityEstimator = ({ args, childComplexity }) => {
  const first = typeof args.first === 'number' ? Math.max(args.first, 1) : 1
  return 1 + childComplexity * first
}

// graphql-query-complexity stops counting after this many fields (fragments expanded where spread), so pricing a
// document stays cheap however it is built; its plain GraphQLError is turned into the client error it is.
const MAX_QUERY_NODES = 10_000

function priced(count: () => number): number {
  try {
    return count()
  } catch (error) {
    if (
      error instanceof GraphQLError &&
      error.originalError === undefined &&
      /maximum allowed number of nodes/.test(error.message)
    ) {
      throw new Errors.QueryTooComplex(
        `Query has more than ${MAX_QUERY_NODES} fields once its fragments are expanded; ask for fewer items or fields`,
      )
    }
    throw error
  }
}

export function assertQueryCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown> | undefined,
  operationName: string | undefined,
  maximumCost: number,
): number {
  // graphql-query-complexity reads `operation.name.value` unguarded, so a name that matches no operation
  // (or an anonymous one) would crash it into a 500; it is the client's mistake, and execution would refuse it.
  if (
    operationName !== undefined &&
    !document.definitions.some(
      definition => definition.kind === Kind.OPERATION_DEFINITION && definition.name?.value === operationName,
    )
  ) {
    throw new Errors.InvalidInput(`Unknown operation named "${operationName}"`)
  }
  const cost = priced(() =>
    getComplexity({
      schema,
      query: document,
      variables: variables ?? {},
      operationName,
      estimators: [listMultiplier],
      maxQueryNodes: MAX_QUERY_NODES,
    }),
  )
  if (cost > maximumCost) {
    throw new Errors.QueryTooComplex(
      `Query cost ${cost} exceeds the limit of ${maximumCost}; ask for fewer items or fields`,
    )
  }
  return cost
}

/**
 * Introspection is priced apart from data. Its lists have no `first`, so the data cost counts each of their fields
 * once, while `__schema { types { fields { args … } } }` really expands to every type × every field × every arg:
 * an alias fan of a few hundred such selections stays under the data limit and costs a second of CPU and megabytes
 * of answer. Here every introspection list multiplies its subtree by the longest it can be in this schema, and the
 * limit is twice the full standard introspection query (what GraphiQL sends, with every option on), so GraphiQL and
 * other tools pass and a fan of whole-schema dumps does not. (graphql-js already refuses introspection nested more
 * than 3 lists deep.)
 */
interface IntrospectionPricing {
  sizes: Map<string, number>
  limit: number
}
const pricing = new WeakMap<GraphQLSchema, IntrospectionPricing>()
const INTROSPECTION_FIELD = /__(schema|type)\b/

function introspectionPricing(schema: GraphQLSchema): IntrospectionPricing {
  const known = pricing.get(schema)
  if (known !== undefined) return known
  const types = Object.values(schema.getTypeMap())
  const composite = types.filter(type => isObjectType(type) || isInterfaceType(type))
  const fields = composite.flatMap(type => Object.values(type.getFields()))
  const longest = (counts: number[]): number => Math.max(1, ...counts)
  const sizes = new Map<string, number>([
    ['__Schema.types', types.length],
    ['__Schema.directives', schema.getDirectives().length],
    ['__Type.fields', longest(composite.map(type => Object.keys(type.getFields()).length))],
    ['__Type.interfaces', longest(composite.map(type => type.getInterfaces().length))],
    ['__Type.possibleTypes', longest(types.filter(isAbstractType).map(type => schema.getPossibleTypes(type).length))],
    ['__Type.enumValues', longest(types.filter(isEnumType).map(type => type.getValues().length))],
    ['__Type.inputFields', longest(types.filter(isInputObjectType).map(type => Object.keys(type.getFields()).length))],
    ['__Field.args', longest(fields.map(field => field.args.length))],
    ['__Directive.args', longest(schema.getDirectives().map(directive => directive.args.length))],
  ])
  const standard = parse(
    getIntrospectionQuery({
      descriptions: true,
      specifiedByUrl: true,
      directiveIsRepeatable: true,
      schemaDescription: true,
      inputValueDeprecation: true,
      oneOf: true,
    }),
  )
  const result = { sizes, limit: 0 }
  result.limit = 2 * introspectionCost(schema, standard, {}, undefined, result)
  pricing.set(schema, result)
  return result
}

function introspectionCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown>,
  operationName: string | undefined,
  { sizes }: IntrospectionPricing,
): number {
  const estimator: ComplexityEstimator = ({ type, field, childComplexity }) => {
    if (type.name.startsWith('__')) return 1 + childComplexity * (sizes.get(`${type.name}.${field.name}`) ?? 1)
    if (field.name === '__schema' || field.name === '__type') return 1 + childComplexity
    return childComplexity // data fields are the data cost's business
  }
  return priced(() =>
    getComplexity({
      schema,
      query: document,
      variables,
      operationName,
      estimators: [estimator],
      maxQueryNodes: MAX_QUERY_NODES,
    }),
  )
}

export function assertIntrospectionCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown> | undefined,
  operationName: string | undefined,
): void {
  // Most requests never introspect: a look at the source spares them the walk.
  const source = document.loc?.source.body
  if (source !== undefined && !INTROSPECTION_FIELD.test(source)) return
  const rules = introspectionPricing(schema)
  const cost = introspectionCost(schema, document, variables ?? {}, operationName, rules)
  if (cost > rules.limit) {
    throw new Errors.QueryTooComplex(
      `Introspection cost ${cost} exceeds the limit of ${rules.limit} (twice the full standard introspection query); ask for less of the schema at once`,
    )
  }
}

/**
 * Field nesting of the operation that will run, fragments expanded. Introspection (`__schema`, `__type`)
 * is not counted: it reads the schema, not the database, and GraphiQL's own introspection query is
 * 15 levels deep — a data-depth limit must not break the playground.
 */
export function queryDepth(document: DocumentNode, operationName: string | undefined): number {
  const fragments = new Map<string, FragmentDefinitionNode>()
  const operations: OperationDefinitionNode[] = []
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition)
    if (
      definition.kind === Kind.OPERATION_DEFINITION &&
      (operationName === undefined || definition.name?.value === operationName)
    ) {
      operations.push(definition)
    }
  }
  // A fragment is as deep wherever it is spread, so each is measured once: walked per spread instead, fragments
  // that each spread the next one twice would cost 2^n steps (a 1 KB document, minutes of CPU before any limit).
  const fragmentDepths = new Map<string, number>()
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
        let depth = fragmentDepths.get(name)
        if (depth === undefined) {
          depth = depthOf(fragment.selectionSet, new Set([...visiting, name]))
          fragmentDepths.set(name, depth)
        }
        deepest = Math.max(deepest, depth)
      }
    }
    return deepest
  }
  return Math.max(0, ...operations.map(operation => depthOf(operation.selectionSet, new Set())))
}

export function assertQueryDepth(
  document: DocumentNode,
  operationName: string | undefined,
  maximumDepth: number,
): void {
  const depth = queryDepth(document, operationName)
  if (depth > maximumDepth) {
    throw new Errors.QueryTooDeep(
      `Query depth ${depth} exceeds the limit of ${maximumDepth}; select fewer nested levels`,
    )
  }
}
