/**
 * Push throttle: bounds the bytes of xDS responses queued in gRPC/HTTP/2 write buffers across all
 * streams, like Istio's PILOT_PUSH_THROTTLE but counted in bytes. Without it, a change (or 1,000
 * proxies connecting) makes every stream encode and queue its whole response at once; proxies read
 * them far slower than they are produced, so peak memory is streams x response size. With it, a
 * stream's push starts only while the queued bytes are under the budget, and the next one starts
 * when earlier writes have been taken by the transport (the peer has read them, up to its flow
 * control window). Streams wait in FIFO order and hold no encoded bytes while they wait: a push
 * encodes from the latest snapshot when it starts.
 */

export interface PushThrottleOptions {
  /** Bytes of responses that may be queued for writing at once; at least one push always runs. */
  maxQueuedBytes: number;
  /**
   * A write not taken by the transport within this time stops counting against the budget, so a
   * peer that stopped reading cannot hold up everyone else (its stream stays blocked on its own).
   */
  stallMs?: number;
}

/** 8 MiB: 1,000 proxies x 10,000 endpoints converge as fast as with more (docs/benchmarks.md). */
export const DEFAULT_PUSH_BUDGET_BYTES = 8 * 1024 * 1024;

export class PushThrottle {
  readonly #max: number;
  readonly #stallMs: number;
  #queued = 0;
  /** Pushes waiting for budget, in arrival order; a push is queued at most once. */
  readonly #waiting = new Set<() => void>();
  #granting = false;

  constructor(opts: PushThrottleOptions) {
    if (!Number.isFinite(opts.maxQueuedBytes) || opts.maxQueuedBytes <= 0) throw new RangeError(`maxQueuedBytes must be a positive number, got ${opts.maxQueuedBytes}`);
    this.#max = opts.maxQueuedBytes;
    this.#stallMs = opts.stallMs ?? 10_000;
  }

  /** Bytes currently queued for writing (for metrics and tests). */
  get queuedBytes(): number {
    return this.#queued;
  }

  /** Pushes waiting for budget. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** Runs `push` now if the budget allows and nobody is waiting, else once earlier writes are taken. */
  schedule(push: () => void): void {
    if (this.#waiting.size === 0 && this.#queued < this.#max) {
      push();
      return;
    }
    this.#waiting.add(push);
    this.#grant();
  }

  /** Forgets a waiting push (its stream closed). */
  cancel(push: () => void): void {
    this.#waiting.delete(push);
  }

  /**
   * Counts `bytes` just handed to a stream's write; the returned function gives them back (call it
   * from the write's callback; later calls are no-ops). They are given back after `stallMs` anyway.
   */
  charge(bytes: number): () => void {
    this.#queued += bytes;
    let done = false;
    const timer = setTimeout(() => release(), this.#stallMs);
    timer.unref();
    const release = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.#queued -= bytes;
      this.#grant();
    };
    return release;
  }

  #grant(): void {
    if (this.#granting) return; // a push started below released synchronously; the loop goes on
    this.#granting = true;
    try {
      while (this.#queued < this.#max && this.#waiting.size > 0) {
        const next = this.#waiting.values().next().value as () => void;
        this.#waiting.delete(next);
        next();
      }
    } finally {
      this.#granting = false;
    }
  }
}
