/** Resource identity (types.ts re-exports it); apart so kind definitions can use it without a module cycle. */
import type { Kind, ResourceKey } from './types.js';

/** `Kind/namespace/name`: the identity of a resource in the store and in messages. */
export function resourceKey(r: { kind: Kind; metadata: { namespace: string; name: string } }): ResourceKey {
  return `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`;
}
