/**
 * Outlier detection (passive health): consecutive 5xx and consecutive gateway failures (502, 503,
 * 504, connect failures, resets, timeouts) eject a host for base_ejection_time x (times ejected),
 * capped by max_ejection_time, never ejecting more than max_ejection_percent of the cluster
 * (but always allowing one, as Envoy's always_eject_one_host). A timer every `interval` returns
 * hosts whose time is up. Ejections change health, so the cluster rebuilds its picker.
 */
import { durationMs } from '../xds/types/decoded.js';
import type { OutlierDetection } from '../../proto/gen/envoy/config/cluster/v3/outlier_detection_pb.js';
import type { Host } from './host.js';

type Duration = { seconds: bigint; nanos: number } | undefined;
const ms = (d: Duration, dflt: number): number => durationMs(d, dflt);

/** What the forwarder reports after each attempt. */
export const enum Outcome {
  Success,
  /** A 5xx other than a gateway error. */
  ServerError,
  /** 502/503/504, connect failure, reset or timeout. */
  GatewayError,
}

export class OutlierDetector {
  readonly #consecutive5xx: number;
  readonly #consecutiveGateway: number;
  readonly #enforce5xx: number;
  readonly #enforceGateway: number;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #maxPercent: number;
  readonly #timer: NodeJS.Timeout;
  ejectionsTotal = 0;

  constructor(
    od: OutlierDetection,
    private readonly hosts: () => readonly Host[],
    private readonly onChange: () => void,
  ) {
    this.#consecutive5xx = od.consecutive5xx ?? 5;
    this.#consecutiveGateway = od.consecutiveGatewayFailure ?? 5;
    this.#enforce5xx = od.enforcingConsecutive5xx ?? 100;
    this.#enforceGateway = od.enforcingConsecutiveGatewayFailure ?? 0;
    this.#baseMs = ms(od.baseEjectionTime, 30_000);
    this.#maxMs = Math.max(this.#baseMs, ms(od.maxEjectionTime, 300_000));
    this.#maxPercent = od.maxEjectionPercent ?? 10;
    this.#timer = setInterval(() => this.#sweep(), ms(od.interval, 10_000));
    this.#timer.unref();
  }

  report(h: Host, o: Outcome): void {
    if (o === Outcome.Success) {
      h.consecutive5xx = 0;
      h.consecutiveGateway = 0;
      return;
    }
    h.consecutive5xx++;
    if (o === Outcome.GatewayError) h.consecutiveGateway++;
    if (h.ejectedUntil) return;
    if (h.consecutiveGateway >= this.#consecutiveGateway && this.#enforceGateway > 0 && Math.random() * 100 < this.#enforceGateway) this.#eject(h);
    else if (h.consecutive5xx >= this.#consecutive5xx && this.#enforce5xx > 0 && Math.random() * 100 < this.#enforce5xx) this.#eject(h);
  }

  #eject(h: Host): void {
    const all = this.hosts();
    const ejected = all.filter((x) => x.ejectedUntil).length;
    if (ejected > 0 && ((ejected + 1) * 100) / all.length > this.#maxPercent) return;
    h.ejections++;
    h.ejectedUntil = Date.now() + Math.min(this.#maxMs, this.#baseMs * h.ejections);
    h.consecutive5xx = 0;
    h.consecutiveGateway = 0;
    this.ejectionsTotal++;
    this.onChange();
  }

  #sweep(): void {
    const now = Date.now();
    let changed = false;
    for (const h of this.hosts()) {
      if (h.ejectedUntil && h.ejectedUntil <= now) {
        h.ejectedUntil = 0;
        changed = true;
      }
    }
    if (changed) this.onChange();
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
