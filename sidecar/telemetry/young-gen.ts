/**
 * A young generation that grows with traffic, not with start-up.
 *
 * V8 doubles its young generation (up to 2 x 16 MiB semi-spaces) whenever many objects survive a
 * scavenge. Start-up (loading modules, decoding the Envoy descriptors and the first xDS snapshot)
 * and big config pushes are exactly that, so a sidecar that never serves much traffic would keep
 * 30 MiB of young generation it does not need. `bin/weft.js` therefore starts the sidecar with
 * `--semi-space-growth-factor=1` (the young generation stays at its 1 MiB semi-spaces), and this
 * policy restores V8's default growth once the sidecar is busy, where the bigger young generation
 * pays for itself (fewer scavenges, less promotion: 15-20 % of CPU under load):
 *   - `requestsPerSecond` requests in one tick (a second), or
 *   - `scavengesPerSecond` minor GCs a second sustained for `sustainSeconds` (allocation that is
 *     not requests: long gRPC streams); a config push is a short burst and does not count.
 * Growth is one-way: V8 keeps the grown space; a sidecar that was busy once is likely busy again.
 * See docs/sidecar.md#memory-and-cpu.
 */
import { PerformanceObserver, constants as perf, type PerformanceEntry } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';

export interface YoungGenOptions {
  /** Total requests served so far (all listeners). */
  requests: () => number;
  requestsPerSecond?: number;
  scavengesPerSecond?: number;
  sustainSeconds?: number;
  /** Applies a V8 flag (tests pass their own). */
  setFlags?: (flags: string) => void;
  onGrow?: (reason: string) => void;
}

type GcEntry = PerformanceEntry & { detail?: { kind?: number } };

/** The V8 default that the sidecar starts without (bin/weft.js). */
export const DEFAULT_GROWTH = '--semi-space-growth-factor=2';

export class YoungGenPolicy {
  readonly #o: Required<Omit<YoungGenOptions, 'onGrow'>> & Pick<YoungGenOptions, 'onGrow'>;
  #lastRequests: number;
  #scavenges = 0;
  #busySeconds = 0;
  #grown = false;
  #timer: NodeJS.Timeout | undefined;
  #observer: PerformanceObserver | undefined;

  constructor(o: YoungGenOptions) {
    this.#o = { requestsPerSecond: 100, scavengesPerSecond: 10, sustainSeconds: 10, setFlags: setFlagsFromString, ...o };
    this.#lastRequests = o.requests();
  }

  get grown(): boolean {
    return this.#grown;
  }

  /** Counts one minor GC (the observer calls this; tests call it directly). */
  scavenged(n = 1): void {
    this.#scavenges += n;
  }

  /** One second's worth of evidence; returns whether growth is (now) allowed. */
  tick(): boolean {
    if (this.#grown) return true;
    const now = this.#o.requests();
    const rps = now - this.#lastRequests;
    this.#lastRequests = now;
    const sps = this.#scavenges;
    this.#scavenges = 0;
    this.#busySeconds = sps >= this.#o.scavengesPerSecond ? this.#busySeconds + 1 : 0;
    if (rps >= this.#o.requestsPerSecond) this.#grow(`${rps} requests in a second`);
    else if (this.#busySeconds >= this.#o.sustainSeconds) this.#grow(`${sps} scavenges a second for ${this.#busySeconds} s`);
    return this.#grown;
  }

  /** Ticks every second (unref'd) and counts scavenges, until growth is allowed or close(). */
  start(): this {
    this.#observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if ((e as GcEntry).detail?.kind === perf.NODE_PERFORMANCE_GC_MINOR) this.#scavenges++;
    });
    this.#observer.observe({ entryTypes: ['gc'] });
    this.#timer = setInterval(() => this.tick(), 1000).unref();
    return this;
  }

  close(): void {
    clearInterval(this.#timer);
    this.#observer?.disconnect();
    this.#timer = undefined;
    this.#observer = undefined;
  }

  #grow(reason: string): void {
    this.#grown = true;
    this.#o.setFlags(DEFAULT_GROWTH);
    this.close();
    this.#o.onGrow?.(reason);
  }
}
