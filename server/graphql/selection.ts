// What an operation asks of a relation's objects, so its loader reads only those columns. Taken from the whole
// operation, not from one resolver's call: the loader merges calls with equal arguments (aliases of the same field
// asking for different fields among them), and each of them must find what it asked for.
import { Kind, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql'

export interface OperationInfo {
  operation: OperationDefinitionNode
  fragments: Record<string, FragmentDefinitionNode>
}

const remembered = new WeakMap<OperationDefinitionNode, Map<string, ReadonlySet<string>>>()

/**
 * The names of the fields selected directly under every field called `relation` in the operation (through
 * fragments; @skip and @include ignored, which only ever adds a name). Remembered per parsed operation.
 */
export function fieldsSelectedUnder(info: OperationInfo, relation: string): ReadonlySet<string> {
  let byRelation = remembered.get(info.operation)
  if (byRelation === undefined) {
    byRelation = new Map()
    remembered.set(info.operation, byRelation)
  }
  const known = byRelation.get(relation)
  if (known !== undefined) return known

  const selected = new Set<string>()
  const visitedFragments = new Set<string>()
  const eachField = (set: SelectionSetNode | undefined, visit: (name: string, sub?: SelectionSetNode) => void) => {
    for (const selection of set?.selections ?? []) {
      if (selection.kind === Kind.FIELD) visit(selection.name.value, selection.selectionSet)
      else if (selection.kind === Kind.INLINE_FRAGMENT) eachField(selection.selectionSet, visit)
      else if (!visitedFragments.has(selection.name.value)) {
        visitedFragments.add(selection.name.value)
        eachField(info.fragments[selection.name.value]?.selectionSet, visit)
        visitedFragments.delete(selection.name.value)
      }
    }
  }
  const walk = (set: SelectionSetNode | undefined): void =>
    eachField(set, (name, sub) => {
      if (name === relation) eachField(sub, field => selected.add(field))
      walk(sub)
    })
  walk(info.operation.selectionSet)
  byRelation.set(relation, selected)
  return selected
}
