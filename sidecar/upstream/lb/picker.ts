/**
 * The balancing contract, split the grpc-js way: a policy builds an immutable Picker from a set of
 * hosts when the set or its health changes; the request path only calls `pick()`.
 */
import type { Host } from '../host.js';

/** What a request offers the picker: the ring-hash key's hash when the route has a hash policy. */
export interface PickContext {
  hash: number | undefined;
}

export interface Picker {
  /** A host, or undefined when the set is empty. */
  pick(ctx: PickContext): Host | undefined;
}

export interface LbPolicy {
  readonly name: string;
  /** Builds a picker over `hosts` (never empty). */
  build(hosts: readonly Host[]): Picker;
}

export const EMPTY_PICKER: Picker = { pick: () => undefined };

export function sameWeights(hosts: readonly Host[]): boolean {
  const w = hosts[0]!.weight;
  for (let i = 1; i < hosts.length; i++) if (hosts[i]!.weight !== w) return false;
  return true;
}
