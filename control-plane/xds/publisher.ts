/**
 * Debounced pushes: bursts of changes (an apply of many files, a fleet of sidecars starting) are
 * coalesced into one snapshot rebuild. A rebuild runs `quietMs` after the last change, but never
 * later than `maxDelayMs` after the first change of a burst, so a steady trickle cannot starve it.
 */

/** What changed since the last publish: everything, or the endpoints of some services. */
export type Change = { all: true } | { all: false; services: ReadonlySet<string> };

export interface PublisherOptions {
  quietMs?: number;
  maxDelayMs?: number;
}

export class Publisher {
  readonly #publish: (change: Change) => void;
  readonly #quietMs: number;
  readonly #maxDelayMs: number;
  #pendingAll = false;
  #pendingServices = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #firstAt = 0;

  constructor(publish: (change: Change) => void, opts: PublisherOptions = {}) {
    this.#publish = publish;
    this.#quietMs = opts.quietMs ?? 30;
    this.#maxDelayMs = opts.maxDelayMs ?? 300;
  }

  /** Records a change; the publish callback runs once the burst is over. */
  schedule(change: Change): void {
    if (change.all) this.#pendingAll = true;
    else for (const s of change.services) this.#pendingServices.add(s);
    const now = Date.now();
    if (this.#timer === undefined) this.#firstAt = now;
    clearTimeout(this.#timer);
    const wait = Math.max(0, Math.min(this.#quietMs, this.#firstAt + this.#maxDelayMs - now));
    this.#timer = setTimeout(() => this.flush(), wait);
  }

  /** Publishes pending changes now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#pendingAll && this.#pendingServices.size === 0) return;
    const change: Change = this.#pendingAll ? { all: true } : { all: false, services: this.#pendingServices };
    this.#pendingAll = false;
    this.#pendingServices = new Set();
    this.#publish(change);
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
