/**
 * Snapshot cache: what to serve, per node. Split from how to serve it (the ADS handlers) and
 * joined by one narrow interface, `watch`, as in go-control-plane. A snapshot is checked for
 * consistency before it is published; an inconsistent one is refused and the previous one stays.
 */
import { WeftError } from '../../common/errors.js';
import type { Snapshot } from './snapshot.js';

export type SnapshotListener = (snapshot: Snapshot) => void;

/** Consistency verdicts by snapshot: nodes of one class share a snapshot, checked once. */
const checked = new WeakMap<Snapshot, ReturnType<Snapshot['inconsistencies']>>();

export class SnapshotCache {
  readonly #snapshots = new Map<string, Snapshot>();
  readonly #watchers = new Map<string, Set<SnapshotListener>>();

  /** Publishes a node's snapshot and wakes its streams. Throws XDS_INCONSISTENT_SNAPSHOT. */
  setSnapshot(nodeId: string, snapshot: Snapshot): void {
    let problems = checked.get(snapshot);
    if (!problems) checked.set(snapshot, (problems = snapshot.inconsistencies()));
    if (problems.length) {
      throw new WeftError('XDS_INCONSISTENT_SNAPSHOT', `snapshot for node '${nodeId}' has ${problems.length} dangling reference(s)`, { details: problems });
    }
    if (this.#snapshots.get(nodeId) === snapshot) return;
    this.#snapshots.set(nodeId, snapshot);
    for (const w of this.#watchers.get(nodeId) ?? []) w(snapshot);
  }

  getSnapshot(nodeId: string): Snapshot | undefined {
    return this.#snapshots.get(nodeId);
  }

  clearSnapshot(nodeId: string): void {
    this.#snapshots.delete(nodeId);
  }

  /** Calls `listener` on every new snapshot for the node; returns the unsubscribe function. */
  watch(nodeId: string, listener: SnapshotListener): () => void {
    let set = this.#watchers.get(nodeId);
    if (!set) this.#watchers.set(nodeId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#watchers.delete(nodeId);
    };
  }
}
