/** Resource identity (types.ts re-exports it); apart so kind definitions can use it without a module cycle. */
import type { Kind, ResourceKey } from './types.js';

/** `Kind/namespace/name`: the identity of a resource in the store and in messages. */
export function resourceKey(r: { kind: Kind; metadata: { namespace: string; name: string } }): ResourceKey {
  return `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`;
}

/** `list` in resource-key order; each key computed once, not in every comparison. */
export function sortedByKey<T extends { kind: Kind; metadata: { namespace: string; name: string } }>(list: readonly T[]): T[] {
  return list
    .map((r) => [resourceKey(r), r] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map((x) => x[1]);
}
