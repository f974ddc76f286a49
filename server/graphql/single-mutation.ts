// One mutation field per request. Each mutation field is its own service call and transaction, so a
// document with two would commit the first even when the second fails, and the answer (data: null, a
// 4xx) would say the request failed although it changed data. Refused before anything runs instead.
import { Kind, type DocumentNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql'
import { Errors } from '../../common/problem.ts'

/** The operation a request runs: the one named, or the only one. */
export function selectedOperation(
  document: DocumentNode,
  operationName: string | undefined,
): OperationDefinitionNode | undefined {
  const operations = document.definitions.filter(
    (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
  )
  return operationName === undefined
    ? operations.length === 1
      ? operations[0]
      : undefined
    : operations.find(candidate => candidate.name?.value === operationName)
}

export function assertSingleMutation(document: DocumentNode, operationName: string | undefined): void {
  const operation = selectedOperation(document, operationName)
  if (operation?.operation !== 'mutation') return

  const fragments = new Map(
    document.definitions.flatMap(definition =>
      definition.kind === Kind.FRAGMENT_DEFINITION ? [[definition.name.value, definition.selectionSet] as const] : [],
    ),
  )
  // Response keys, as execution merges them; @skip/@include are ignored, so the count errs on the safe side.
  // Each fragment adds the same keys wherever it is spread, so it is read once: per spread, fragments that
  // each spread the next one twice would cost 2^n steps.
  const keys = new Set<string>()
  const visited = new Set<string>()
  const collect = (selectionSet: SelectionSetNode): void => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (!selection.name.value.startsWith('__')) keys.add(selection.alias?.value ?? selection.name.value)
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        collect(selection.selectionSet)
      } else if (!visited.has(selection.name.value)) {
        visited.add(selection.name.value)
        const fragment = fragments.get(selection.name.value)
        if (fragment !== undefined) collect(fragment)
      }
    }
  }
  collect(operation.selectionSet)
  if (keys.size > 1) {
    throw new Errors.InvalidInput(
      `Send one mutation field per request (this one has ${keys.size}: ${[...keys].join(', ')}); ` +
        'each commits on its own, so a later failure could not undo an earlier change',
    )
  }
}
