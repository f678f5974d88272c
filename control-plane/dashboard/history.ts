/**
 * The recent configuration changes made through this replica's admin API (applies and deletes
 * that changed something), newest first, for the dashboard's Config view (GET /v1/history).
 * In memory and per replica: a restart forgets them (the store keeps resources, not a change
 * log); on etcd the admin server merges every live replica's list.
 */
import type { HistoryEntry } from './wire.js';

export type { HistoryEntry };

export class ApplyHistory {
  readonly #entries: HistoryEntry[] = [];
  readonly #max: number;

  constructor(max = 100) {
    this.#max = max;
  }

  /** Records a committed change; one that changed nothing is not recorded. */
  record(revision: number, changes: HistoryEntry['changes'], now = new Date()): void {
    if (!changes.length) return;
    this.#entries.unshift({ revision, at: now.toISOString(), changes });
    if (this.#entries.length > this.#max) this.#entries.length = this.#max;
  }

  /** The most recent `limit` entries, newest first. */
  list(limit = this.#max): HistoryEntry[] {
    return this.#entries.slice(0, limit);
  }
}
