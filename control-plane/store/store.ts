/**
 * The configuration store: where validated resources live between restarts. An interface, so the
 * embedded file store can be replaced by a distributed one (etcd) for several control-plane
 * replicas. Implementations store whole validated resources and never partial changes.
 */
import type { MeshResource, ResourceKey } from '../config/types.js';

export interface StoredState {
  /** Increases by one with every committed change; 0 for an empty, never-written store. */
  readonly revision: number;
  readonly resources: readonly MeshResource[];
}

export interface StoreChange {
  readonly upsert: readonly MeshResource[];
  readonly delete: readonly ResourceKey[];
}

export interface ConfigStore {
  /** Reads the committed state. Throws WeftError STORE_IO / STORE_CORRUPT. */
  load(): Promise<StoredState>;
  /**
   * Applies a change atomically: after a crash at any point, `load()` returns either the state
   * before or the state after, never a mix. Returns the new state.
   */
  commit(change: StoreChange): Promise<StoredState>;
  close(): Promise<void>;
}
