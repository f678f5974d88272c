/**
 * The `consumer` label of the proxy's per-consumer metrics (analytics, API lifecycle), bounded.
 * A request's consumer (RequestInfo.consumer) is the name of a configured Consumer, set by the
 * API-key or JWT filters, so its values already come from config; the bound guards the process
 * against a config with very many consumers anyway:
 *  - no consumer ('') is `anonymous`;
 *  - the first `max` distinct consumer names seen keep their own label (names stay until the
 *    process restarts: a Prometheus series does not come and go);
 *  - any further consumer is `other` (ConsumerStats counts the requests folded so).
 * The hot path is one Map lookup by a string the request already holds; no allocation.
 */
export const ANONYMOUS_CONSUMER = 'anonymous';
export const OTHER_CONSUMER = 'other';
/** Default of --metrics-max-consumers. */
export const DEFAULT_MAX_CONSUMERS = 100;

export class ConsumerLabels {
  readonly #known = new Set<string>();
  #max: number;

  constructor(max = DEFAULT_MAX_CONSUMERS) {
    this.#max = max;
  }

  get max(): number {
    return this.#max;
  }

  /** Sets the bound (the sidecar's --metrics-max-consumers); names already labelled keep theirs. */
  setMax(max: number): void {
    this.#max = max;
  }

  /** Distinct consumer names with a label of their own. */
  get size(): number {
    return this.#known.size;
  }

  label(consumer: string): string {
    if (consumer === '') return ANONYMOUS_CONSUMER;
    if (this.#known.has(consumer)) return consumer;
    if (this.#known.size >= this.#max) return OTHER_CONSUMER;
    this.#known.add(consumer);
    return consumer;
  }
}

/** The process's labels, shared by every per-consumer metric so a consumer has one label everywhere. */
export const consumerLabels = new ConsumerLabels();
