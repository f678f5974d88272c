/**
 * The configuration store: where validated resources live between restarts. An interface, so the
 * embedded file store can be replaced by a distributed one (etcd) for several control-plane
 * replicas. Implementations store whole validated resources and never partial changes.
 */
import { WeftError } from '../../common/errors.js';
import type { MeshResource, ResourceKey } from '../config/types.js';

/**
 * A shared store's answer to a guarded commit when the stored state moved on (other resources
 * changed) while the change was being validated: validate it again against `latest`, then retry.
 */
export class StaleRevisionError extends WeftError {
  constructor(
    readonly read: number,
    readonly latest: number,
  ) {
    super('CONFIG_CONFLICT', `the configuration moved from revision ${read} to ${latest} while the change was being validated; validate it again against revision ${latest}`);
  }
}

export interface StoredState {
  /** Increases by one with every committed change; 0 for an empty, never-written store. */
  readonly revision: number;
  readonly resources: readonly MeshResource[];
}

export interface StoreChange {
  readonly upsert: readonly MeshResource[];
  readonly delete: readonly ResourceKey[];
}

/** The revision a change was validated against: a shared store refuses it if that state moved on. */
export interface CommitGuard {
  readonly revision: number;
}

export interface ConfigStore {
  /** Reads the committed state. Throws WeftError STORE_IO / STORE_CORRUPT / STORE_UNAVAILABLE. */
  load(): Promise<StoredState>;
  /**
   * Applies a change atomically: after a crash at any point, `load()` returns either the state
   * before or the state after, never a mix. Returns the new state. A shared store (etcd) checks
   * `guard` (etcd-store.ts); a store with one writer has nothing to check it against.
   */
  commit(change: StoreChange, guard?: CommitGuard): Promise<StoredState>;
  /** A store several replicas share: each state committed after `load()`, by anyone, in order. */
  watch?(onState: (s: StoredState) => void, onError?: (e: Error) => void): void;
  close(): Promise<void>;
}
