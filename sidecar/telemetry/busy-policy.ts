/**
 * V8 at full speed when there is traffic, not during start-up.
 *
 * Start-up (loading the bundle, building the Envoy descriptors, decoding the first xDS snapshot)
 * and big config pushes are work that runs once but looks hot to V8, so a sidecar that never
 * serves much traffic would keep what V8 spent on it:
 *   - its young generation, which V8 doubles (up to 2 x 16 MiB semi-spaces) whenever many objects
 *     survive a scavenge: about 30 MiB;
 *   - its optimizing compiler (TurboFan): the compiler's own code pages in the node binary, its
 *     output and the memory of its threads, about 7 MiB, for functions that ran a few times.
 * `bin/weft.js` therefore starts the sidecar with both held back (common/v8-flags.ts HELD_BACK:
 * `--semi-space-growth-factor=1`, `--no-turbofan`; code runs in V8's interpreter and its baseline
 * compiler, Sparkplug; and two parts more for idle memory: unused bytecode and the memory
 * reducer). `start()`, called once the sidecar is ready, sets the flags HELD_BACK holds for that
 * moment (`readyFlags`), and this policy sets V8's defaults back (`flags`) the first time the
 * sidecar is busy, where both pay for themselves (fewer scavenges and less promotion: 15-20 % of
 * CPU under load; optimized code: a hop's JavaScript several times faster):
 *   - `requestsPerSecond` requests within a second: checked every fifth of a second over the last
 *     five checks (a sliding second), so a load that starts is noticed within ~0.2 s rather than at
 *     the next whole-second tick, and the first load's interpreted window is short; or
 *   - `scavengesPerSecond` minor GCs a second sustained for `sustainSeconds` (allocation that is
 *     not requests: long gRPC streams), or
 *   - `cpuPercent` of a core used each second for `sustainSeconds` (work that is neither: TCP
 *     and TLS proxying, where a few long connections carry everything);
 *   a config push is a short burst and does not count.
 * One-way: V8 keeps the grown space; a sidecar that was busy once is likely busy again.
 * See docs/sidecar.md#memory-and-cpu.
 */
import { PerformanceObserver, constants as perf, type PerformanceEntry } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';

export interface BusyPolicyOptions {
  /** V8 flags to set when busy (HELD_BACK's `busy` flags of the parts bin/weft.js held back). */
  flags: readonly string[];
  /** V8 flags to set when the policy starts (the sidecar is ready), before it is busy (HELD_BACK's `ready` flags). */
  readyFlags?: readonly string[];
  /** Total requests served so far (all listeners). */
  requests: () => number;
  /** CPU time (user + system) used by the process so far, in ms (default: process.cpuUsage()). */
  cpuMs?: () => number;
  requestsPerSecond?: number;
  scavengesPerSecond?: number;
  cpuPercent?: number;
  sustainSeconds?: number;
  /** Applies a V8 flag (tests pass their own). */
  setFlags?: (flags: string) => void;
  onBusy?: (reason: string) => void;
}

type GcEntry = PerformanceEntry & { detail?: { kind?: number } };

/** Request checks per tick: the policy's timer fires every 1000 / CHECKS ms; every CHECKS-th is also the tick. */
export const CHECKS = 5;

function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export class BusyPolicy {
  readonly #o: Required<Omit<BusyPolicyOptions, 'onBusy'>> & Pick<BusyPolicyOptions, 'onBusy'>;
  #lastRequests: number;
  #scavenges = 0;
  #busySeconds = 0;
  #cpuSeconds = 0;
  #lastCpuMs: number;
  #lastTickAt = performance.now();
  #busy = false;
  /** Requests counted at each of the last CHECKS request checks (a ring): the sliding second. */
  readonly #window = new Array<number>(CHECKS).fill(0);
  #slot = 0;
  #lastChecked: number;
  #timer: NodeJS.Timeout | undefined;
  #observer: PerformanceObserver | undefined;

  constructor(o: BusyPolicyOptions) {
    this.#o = { readyFlags: [], requestsPerSecond: 100, scavengesPerSecond: 10, cpuPercent: 25, sustainSeconds: 10, setFlags: setFlagsFromString, cpuMs: processCpuMs, ...o };
    this.#lastRequests = o.requests();
    this.#lastChecked = this.#lastRequests;
    this.#lastCpuMs = this.#o.cpuMs();
  }

  get busy(): boolean {
    return this.#busy;
  }

  /** Counts one minor GC (the observer calls this; tests call it directly). */
  scavenged(n = 1): void {
    this.#scavenges += n;
  }

  /**
   * A fifth of a second's requests (the timer calls this CHECKS times a second): busy once the
   * last CHECKS checks, a sliding second, held `requestsPerSecond`. Returns whether busy.
   */
  checkRequests(): boolean {
    if (this.#busy) return true;
    const now = this.#o.requests();
    this.#window[this.#slot] = now - this.#lastChecked;
    this.#slot = (this.#slot + 1) % CHECKS;
    this.#lastChecked = now;
    let sum = 0;
    for (let i = 0; i < CHECKS; i++) sum += this.#window[i]!;
    if (sum >= this.#o.requestsPerSecond) this.#setBusy(`${sum} requests within a second`);
    return this.#busy;
  }

  /** One second's worth of evidence; returns whether the sidecar has been busy (the flags are set). */
  tick(): boolean {
    if (this.#busy) return true;
    const now = this.#o.requests();
    const rps = now - this.#lastRequests;
    this.#lastRequests = now;
    const sps = this.#scavenges;
    this.#scavenges = 0;
    this.#busySeconds = sps >= this.#o.scavengesPerSecond ? this.#busySeconds + 1 : 0;
    // CPU ms over the time since the last tick (at least the second a tick stands for: a tick
    // that ran late on a busy loop must not read as more than a core) -> % of a core.
    const cpu = this.#o.cpuMs();
    const at = performance.now();
    const pct = ((cpu - this.#lastCpuMs) * 100) / Math.max(1000, at - this.#lastTickAt);
    this.#lastCpuMs = cpu;
    this.#lastTickAt = at;
    this.#cpuSeconds = pct >= this.#o.cpuPercent ? this.#cpuSeconds + 1 : 0;
    if (rps >= this.#o.requestsPerSecond) this.#setBusy(`${rps} requests in a second`);
    else if (this.#busySeconds >= this.#o.sustainSeconds) this.#setBusy(`${sps} scavenges a second for ${this.#busySeconds} s`);
    else if (this.#cpuSeconds >= this.#o.sustainSeconds) this.#setBusy(`${Math.round(pct)} % of a core for ${this.#cpuSeconds} s`);
    return this.#busy;
  }

  /** Sets the ready flags, then checks requests every 1000 / CHECKS ms and ticks every second (unref'd) and counts scavenges, until the sidecar is busy or close(). */
  start(): this {
    if (this.#busy) return this;
    for (const f of this.#o.readyFlags) this.#o.setFlags(f);
    this.#observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if ((e as GcEntry).detail?.kind === perf.NODE_PERFORMANCE_GC_MINOR) this.#scavenges++;
    });
    this.#observer.observe({ entryTypes: ['gc'] });
    // The tick every CHECKS-th check: when the ring has come round to its first slot again.
    this.#timer = setInterval(() => {
      if (!this.checkRequests() && this.#slot === 0) this.tick();
    }, 1000 / CHECKS).unref();
    return this;
  }

  close(): void {
    clearInterval(this.#timer);
    this.#observer?.disconnect();
    this.#timer = undefined;
    this.#observer = undefined;
  }

  #setBusy(reason: string): void {
    this.#busy = true;
    for (const f of this.#o.flags) this.#o.setFlags(f);
    this.close();
    this.#o.onBusy?.(reason);
  }
}
