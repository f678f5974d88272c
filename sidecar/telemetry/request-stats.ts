/**
 * Per-request golden signals, recorded once when a request ends and read two ways:
 *  - Prometheus (`weft_requests_total`, `weft_request_duration_seconds`) with the labels direction,
 *    service, route, cluster, status_class and grpc_status, cumulative since start;
 *  - load reports (LRS) to the control plane: per (cluster, route) successes, errors and a fine
 *    latency histogram for the interval since the last report, from which `weft stat` computes
 *    success rate, rate and percentiles.
 *
 * The hot path is allocation-free once a series exists: two Map lookups by strings the request
 * already holds (cluster name, route name), an index by status class and gRPC status, and array
 * increments. prom-client renders the text (see metrics.ts); we do not call its observe() per
 * request because it hashes the label set on every call (0.9 us measured, against ~30 ns here).
 *
 * Cardinality is bounded: route and cluster names come from the pushed configuration, status is a
 * class, gRPC status one of 17 codes; past `maxSeries` (route, cluster) pairs, further ones are
 * folded into route="other", cluster="other" and counted in `overflowed`.
 */

/** Prometheus histogram bounds, seconds (Envoy/Istio-like spread from 0.5 ms to 10 s). */
export const DURATION_BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
export const STATUS_CLASS = ['none', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;
/** grpc_status label values: '' for non-gRPC requests, else the code's canonical name. */
export const GRPC_CODES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'] as const;
/** gRPC codes that mean the server failed (the rest are the caller's problem, like 4xx). */
const GRPC_SERVER_ERROR = new Set([2, 4, 12, 13, 14, 15]);

/**
 * Latency histogram for load reports: log buckets growing by 5% from 0.05 ms (bucket i holds
 * (LAT_MIN*R^(i-1), LAT_MIN*R^i] ms), so a percentile read from it is within ~2.5%.
 */
export const LAT_MIN_MS = 0.05;
export const LAT_RATIO = 1.05;
export const LAT_BUCKETS = 320; // up to ~ 0.05 * 1.05^319 ms = 285 s
const LN_RATIO = Math.log(LAT_RATIO);

export function latencyBucket(ms: number): number {
  if (!(ms > LAT_MIN_MS)) return 0;
  const i = Math.ceil(Math.log(ms / LAT_MIN_MS) / LN_RATIO);
  return i < LAT_BUCKETS ? i : LAT_BUCKETS - 1;
}

/** Upper bound (ms) of latency bucket i. */
export function latencyBucketBound(i: number): number {
  return LAT_MIN_MS * LAT_RATIO ** i;
}

/** A request is a failure when it got no response, a 5xx, or a server-side gRPC error. */
export function isFailure(status: number, grpcStatus: number): boolean {
  return status === 0 || status >= 500 || (grpcStatus > 0 && GRPC_SERVER_ERROR.has(grpcStatus));
}

export class Series {
  /** Non-cumulative bucket counts; the last one is +Inf. */
  readonly counts = new Float64Array(DURATION_BOUNDS.length + 1);
  sum = 0;
  count = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}
}

/** What accumulates between two load reports for one (cluster, route). */
export class LoadWindow {
  success = 0;
  error = 0;
  issued = 0;
  /** Latency histogram (counts and ms sums per bucket) since the last report. */
  readonly latCount = new Uint32Array(LAT_BUCKETS);
  readonly latSum = new Float64Array(LAT_BUCKETS);
  dirty = false;

  reset(): void {
    this.success = this.error = this.issued = 0;
    if (this.dirty) {
      this.latCount.fill(0);
      this.latSum.fill(0);
      this.dirty = false;
    }
  }
}

/** One (direction, route, cluster): its series by status, and its load window. */
export class StatsGroup {
  /** Indexed by statusClass * 18 + (grpcStatus + 1). */
  readonly #series: Array<Series | undefined> = new Array(STATUS_CLASS.length * 18);
  readonly load = new LoadWindow();

  constructor(
    readonly direction: string,
    readonly service: string,
    readonly route: string,
    readonly cluster: string,
    private readonly all: Series[],
  ) {}

  series(statusClass: number, grpcStatus: number): Series {
    const i = statusClass * 18 + grpcStatus + 1;
    let s = this.#series[i];
    if (!s) {
      s = new Series({
        direction: this.direction,
        service: this.service,
        route: this.route,
        cluster: this.cluster,
        status_class: STATUS_CLASS[statusClass]!,
        grpc_status: grpcStatus < 0 ? '' : GRPC_CODES[grpcStatus]!,
      });
      this.#series[i] = s;
      this.all.push(s);
    }
    return s;
  }
}

/** The service a cluster reaches: the last `|` part of Weft's cluster names (`<service>.<namespace>`). */
export function clusterService(cluster: string): string {
  return cluster.slice(cluster.lastIndexOf('|') + 1);
}

export class RequestStats {
  /** Every series, in creation order (what /stats/prometheus renders). */
  readonly series: Series[] = [];
  /** Every group (what a load report walks). */
  readonly groups: StatsGroup[] = [];
  /** (route, cluster) pairs folded into 'other' because maxSeries was reached. */
  overflowed = 0;
  readonly #byDirection = new Map<string, Map<string, Map<string, StatsGroup>>>();
  readonly #maxGroups: number;

  constructor(opts: { maxSeries?: number } = {}) {
    this.#maxGroups = opts.maxSeries ?? 1000;
  }

  /** The last group asked for, and its key: a sidecar's requests mostly repeat one (groups are never removed). */
  #last: StatsGroup | undefined;
  #lastKey: [direction: string, cluster: string, route: string] = ['', '', ''];

  group(direction: string, cluster: string, route: string): StatsGroup {
    const k = this.#lastKey;
    if (this.#last !== undefined && route === k[2] && cluster === k[1] && direction === k[0]) return this.#last;
    const g = this.#group(direction, cluster, route);
    this.#last = g;
    k[0] = direction;
    k[1] = cluster;
    k[2] = route;
    return g;
  }

  #group(direction: string, cluster: string, route: string): StatsGroup {
    let byCluster = this.#byDirection.get(direction);
    if (!byCluster) this.#byDirection.set(direction, (byCluster = new Map()));
    let byRoute = byCluster.get(cluster);
    if (!byRoute) byCluster.set(cluster, (byRoute = new Map()));
    let g = byRoute.get(route);
    if (!g) {
      if (this.groups.length >= this.#maxGroups && !(route === 'other' && cluster === 'other')) {
        this.overflowed++;
        g = this.#group(direction, 'other', 'other');
      } else {
        g = new StatsGroup(direction, cluster === '' ? '' : clusterService(cluster), route, cluster, this.series);
        this.groups.push(g);
      }
      byRoute.set(route, g);
    }
    return g;
  }

  /**
   * Records one finished request. `status` 0: no response was sent (client gone, reset);
   * `grpcStatus` -1: not gRPC (or no status).
   */
  record(direction: string, cluster: string, route: string, status: number, grpcStatus: number, durationMs: number): void {
    const g = this.group(direction, cluster, route);
    const cls = status >= 100 && status < 600 ? (status / 100) | 0 : 0;
    const s = g.series(cls, grpcStatus >= 0 && grpcStatus <= 16 ? grpcStatus : -1);
    const sec = durationMs / 1000;
    let b = 0;
    while (b < DURATION_BOUNDS.length && sec > DURATION_BOUNDS[b]!) b++;
    s.counts[b]!++;
    s.sum += sec;
    s.count++;
    const w = g.load;
    w.issued++;
    if (isFailure(status, grpcStatus)) w.error++;
    else w.success++;
    const lb = latencyBucket(durationMs);
    w.latCount[lb]!++;
    w.latSum[lb]! += durationMs;
    w.dirty = true;
  }
}
