/**
 * API analytics: per-consumer golden signals, recorded once when a request ends (beside
 * request-stats.ts) and read two ways:
 *  - Prometheus, per (direction, route, cluster, consumer), cumulative since start:
 *    `weft_consumer_requests_total`, `weft_consumer_errors_total`,
 *    `weft_consumer_rate_limited_total` and `weft_consumer_request_duration_seconds`;
 *  - load reports (LRS) to the control plane, per (direction, cluster, consumer) for the interval
 *    since the last report (common/lrs-service.ts: `weft-consumer/...` ClusterStats), from which
 *    `weft stat --by consumer` computes rates, error share, percentiles and rate-limited counts.
 *
 * An error is a request that got no response, a 5xx or a server-side gRPC error, or that the
 * proxy refused itself (`info.weftError` set: an API key, JWT, rate limit, validation...). A
 * rate-limited request is one answered RATE_LIMITED or QUOTA_EXCEEDED (counted as an error too).
 *
 * Cardinality is bounded twice: the consumer label by ConsumerLabels (`anonymous`, the first
 * --metrics-max-consumers names, then `other`), and the (direction, route, cluster, consumer)
 * groups by `maxSeries`, past which a group is folded into route/cluster/consumer `other` (and
 * counted in `overflowed`). Route and cluster names come from the pushed config.
 *
 * A request the proxy refused before the router chose a cluster (an API key, a rate limit, a
 * sunset) is counted under its route's cluster when the route has one (not a weighted split), so
 * `weft stat --by consumer service/NAME` sees the refusals of that service's API too.
 *
 * The hot path allocates nothing once a group exists: Map lookups by strings the request already
 * holds and array increments; label objects are built once per group.
 */
import type { RequestInfo } from '../http/filter.js';
import { type ConsumerLabels, consumerLabels as sharedLabels, OTHER_CONSUMER } from './consumer-label.js';
import { DURATION_BOUNDS, isFailure, latencyBucket, LoadWindow } from './request-stats.js';

/** The x-weft-error codes of a rate limit's refusal. */
export const RATE_LIMIT_CODES: ReadonlySet<string> = new Set(['RATE_LIMITED', 'QUOTA_EXCEEDED']);

/** One interval's load of a (direction, cluster, consumer), with its rate-limited count. */
export class ConsumerWindow extends LoadWindow {
  rateLimited = 0;
  constructor(
    readonly direction: string,
    readonly cluster: string,
    readonly consumer: string,
  ) {
    super();
  }
  override reset(): void {
    super.reset();
    this.rateLimited = 0;
  }
}

/** One (direction, route, cluster, consumer) series: cumulative counts and a duration histogram. */
export class ConsumerGroup {
  requests = 0;
  errors = 0;
  rateLimited = 0;
  /** Non-cumulative bucket counts over DURATION_BOUNDS, then +Inf (a PrebucketedSeries). */
  readonly counts = new Float64Array(DURATION_BOUNDS.length + 1);
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Readonly<Record<string, string>>,
    readonly window: ConsumerWindow,
  ) {}
}

export class ConsumerStats {
  /** Every series (what /stats/prometheus renders). */
  readonly groups: ConsumerGroup[] = [];
  /** Every load window (what a load report walks). */
  readonly windows: ConsumerWindow[] = [];
  /** Requests whose consumer was counted as `other` (the consumer label bound was reached). */
  folded = 0;
  /** (direction, route, cluster, consumer) groups folded into route/cluster/consumer 'other' (maxSeries reached). */
  overflowed = 0;
  readonly labels: ConsumerLabels;
  readonly #maxGroups: number;
  /** direction -> cluster -> route -> consumer label -> group */
  readonly #groups = new Map<string, Map<string, Map<string, Map<string, ConsumerGroup>>>>();
  /** `direction\0cluster\0consumer` -> window (only when a group is created). */
  readonly #windows = new Map<string, ConsumerWindow>();

  constructor(opts: { maxSeries?: number; labels?: ConsumerLabels } = {}) {
    this.#maxGroups = opts.maxSeries ?? 1000;
    this.labels = opts.labels ?? sharedLabels;
  }

  group(direction: string, cluster: string, route: string, consumer: string): ConsumerGroup {
    let byCluster = this.#groups.get(direction);
    if (!byCluster) this.#groups.set(direction, (byCluster = new Map()));
    let byRoute = byCluster.get(cluster);
    if (!byRoute) byCluster.set(cluster, (byRoute = new Map()));
    let byConsumer = byRoute.get(route);
    if (!byConsumer) byRoute.set(route, (byConsumer = new Map()));
    const label = this.labels.label(consumer);
    let g = byConsumer.get(label);
    if (g) return g;
    const folded = route === OTHER_CONSUMER && cluster === OTHER_CONSUMER && label === OTHER_CONSUMER;
    if (this.groups.length >= this.#maxGroups && !folded) {
      this.overflowed++;
      g = this.group(direction, OTHER_CONSUMER, OTHER_CONSUMER, OTHER_CONSUMER);
      byConsumer.set(label, g);
      return g;
    }
    const wk = `${direction}\u0000${cluster}\u0000${label}`;
    let w = this.#windows.get(wk);
    if (!w) {
      this.#windows.set(wk, (w = new ConsumerWindow(direction, cluster, label)));
      this.windows.push(w);
    }
    g = new ConsumerGroup(Object.freeze({ direction, route, cluster, consumer: label }), w);
    byConsumer.set(label, g);
    this.groups.push(g);
    return g;
  }

  /**
   * Records one finished request (`status` 0: no response; `grpcStatus` -1: not gRPC). The
   * consumer and the proxy's own error code are read from `info`.
   */
  record(direction: string, info: RequestInfo, status: number, grpcStatus: number, durationMs: number): void {
    const consumer = info.consumer;
    const g = this.group(direction, info.clusterName || routeCluster(info), info.routeName, consumer);
    if (g.labels.consumer === OTHER_CONSUMER && consumer !== OTHER_CONSUMER && this.labels.label(consumer) === OTHER_CONSUMER) this.folded++;
    const code = info.weftError;
    const error = code !== '' || isFailure(status, grpcStatus);
    const limited = code !== '' && RATE_LIMIT_CODES.has(code);
    g.requests++;
    if (error) g.errors++;
    if (limited) g.rateLimited++;
    const sec = durationMs / 1000;
    let b = 0;
    while (b < DURATION_BOUNDS.length && sec > DURATION_BOUNDS[b]!) b++;
    g.counts[b]!++;
    g.sum += sec;
    g.count++;
    const w = g.window;
    w.issued++;
    if (error) w.error++;
    else w.success++;
    if (limited) w.rateLimited++;
    const lb = latencyBucket(durationMs);
    w.latCount[lb]!++;
    w.latSum[lb]! += durationMs;
    w.dirty = true;
  }
}

/** The cluster of the request's route when it forwards to one cluster; '' otherwise. */
function routeCluster(info: RequestInfo): string {
  const r = info.route;
  return r !== undefined && r.kind === 'forward' && r.cluster !== undefined ? r.cluster : '';
}
