/**
 * Load reporting (LRS, envoy.service.load_stats.v3): a stream to the control plane on the xDS
 * channel. The control plane answers the first message (the Node) with the reporting interval;
 * from then on, every interval, the sidecar sends what each (cluster, route) served since the last
 * report (see common/lrs-service.ts for the encoding) and starts a new interval. The control plane
 * aggregates these for `weft stat`.
 *
 * While the stream is down, stats keep accumulating; the next report covers the whole gap (its
 * load_report_interval says how long). A control plane without LRS (UNIMPLEMENTED) is left alone.
 */
import { encodeMessage } from '../../common/wire-encode.js';
import type { Logger } from '../../common/log.js';
import { controlPlaneChannel, type ControlPlaneTls } from '../identity/workload.js';
import { GrpcStatus, type GrpcCall, type GrpcChannel, type GrpcError } from '../xds/grpc-channel.js';
import { ControlPlanes } from '../identity/control-planes.js';
import { CONSUMER_SERVICE_PREFIX, lrsServiceDefinition, RATE_LIMITED_METRIC, ROUTE_SERVICE_PREFIX } from '../../common/lrs-service.js';
import type { LoadStatsRequest, LoadStatsResponse } from '../../proto/gen/envoy/service/load_stats/v3/lrs_pb.js';
import { NodeSchema } from '../../proto/gen/envoy/config/core/v3/base_pb.js';
import { encodeLoadStatsRequest, type ClusterStatsInit } from './load-report-encode.js';
import type { RequestStats } from './request-stats.js';
import type { ConsumerStats } from './consumer-stats.js';

export interface LoadReporterOptions {
  /** The control plane (replicas: the ADS client's, so reports go where its stream is). */
  address: string | ControlPlanes;
  /** TLS for the channel (none: plaintext). */
  tls: ControlPlaneTls | undefined;
  node: () => NonNullable<LoadStatsRequest['node']>;
  stats: RequestStats;
  /** Per-consumer analytics (absent: none reported). */
  consumers?: ConsumerStats;
  /** Requests in flight per cluster name. */
  inProgress: (cluster: string) => number;
  logger: Logger;
}

/** Requests go out already encoded (load-report-encode.ts). */
type Stream = GrpcCall<Uint8Array>;

export class LoadReporter {
  /** Reports sent. */
  sent = 0;
  readonly #o: LoadReporterOptions;
  #client: GrpcChannel | undefined;
  #stream: Stream | undefined;
  #timer: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #intervalMs = 0;
  #since = performance.now();
  #closed = false;
  #failures = 0;
  #clientAddress = '';
  /** The node's encoded bytes, made once per stream (every report carries them). */
  #node: Uint8Array = new Uint8Array(0);

  constructor(o: LoadReporterOptions) {
    this.#o = o;
  }

  start(): void {
    this.#connect();
  }

  #connect(): void {
    if (this.#closed) return;
    // Replicas: report to the one the ADS stream is on (it moves when that replica goes away).
    const address = ControlPlanes.of(this.#o.address).current;
    if (this.#clientAddress !== address) {
      this.#client?.close();
      this.#client = undefined;
    }
    this.#clientAddress = address;
    this.#client ??= controlPlaneChannel(address, this.#o.tls);
    const d = lrsServiceDefinition.StreamLoadStats;
    let stream: Stream | undefined = undefined;
    const lost = (e?: GrpcError) => {
      if (this.#stream !== stream) return;
      this.#stream = undefined;
      clearInterval(this.#timer);
      if (this.#closed) return;
      if (e?.code === GrpcStatus.UNIMPLEMENTED) {
        this.#o.logger.info('the control plane does not accept load reports; weft stat will not show this sidecar');
        return;
      }
      const delay = Math.min(30_000, 500 * 2 ** this.#failures++) * (0.5 + Math.random() / 2);
      this.#retry = setTimeout(() => this.#connect(), delay);
      this.#retry.unref();
    };
    stream = this.#client.call(d.path, d.requestSerialize, d.responseDeserialize, {
      onMessage: (r: LoadStatsResponse) => {
        this.#failures = 0;
        const ms = r.loadReportingInterval ? Number(r.loadReportingInterval.seconds) * 1000 + r.loadReportingInterval.nanos / 1e6 : 10_000;
        this.#intervalMs = Math.max(100, ms);
        clearInterval(this.#timer);
        this.#timer = setInterval(() => this.#report(), this.#intervalMs);
        this.#timer.unref();
      },
      onClose: lost,
    });
    this.#stream = stream;
    this.#node = encodeMessage(NodeSchema, this.#o.node());
    stream.write(encodeLoadStatsRequest(this.#node, []));
  }

  /** One report: every (cluster, route) that saw requests since the last one; then a new interval. */
  #report(): void {
    const s = this.#stream;
    if (!s) return;
    const now = performance.now();
    const ms = now - this.#since;
    this.#since = now;
    const interval = { seconds: BigInt(Math.floor(ms / 1000)), nanos: Math.round((ms % 1000) * 1e6) };
    const clusterStats: ClusterStatsInit[] = [];
    // Windows start anew once their histograms are encoded (they are read from the windows' arrays).
    const reported: Array<{ reset(): void }> = [];
    for (const g of this.#o.stats.groups) {
      const w = g.load;
      if (w.issued === 0) continue;
      reported.push(w);
      clusterStats.push({
        clusterName: g.cluster,
        clusterServiceName: `${ROUTE_SERVICE_PREFIX}${g.direction}/${g.route}`,
        upstreamLocalityStats: [
          {
            totalSuccessfulRequests: BigInt(w.success),
            totalErrorRequests: BigInt(w.error),
            totalIssuedRequests: BigInt(w.issued),
            totalRequestsInProgress: BigInt(g.cluster ? this.#o.inProgress(g.cluster) : 0),
            latency: w,
            loadMetricStats: [],
          },
        ],
        loadReportInterval: interval,
      });
    }
    clusterStats.push(...consumerClusterStats(this.#o.consumers, interval, reported));
    // Sent even when idle: the control plane counts the interval (rates are over covered time).
    const bytes = encodeLoadStatsRequest(this.#node, clusterStats);
    for (const w of reported) w.reset();
    s.write(bytes);
    this.sent++;
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#retry);
    this.#stream?.cancel();
    this.#client?.close();
  }
}

/**
 * The per-consumer ClusterStats of one report (common/lrs-service.ts): every (direction, cluster,
 * consumer) window that saw requests since the last report, each added to `reported` (the caller
 * resets them once the report is encoded: the histograms are read from the windows).
 */
export function consumerClusterStats(consumers: ConsumerStats | undefined, interval: { seconds: bigint; nanos: number }, reported: Array<{ reset(): void }>): ClusterStatsInit[] {
  const clusterStats: ClusterStatsInit[] = [];
  for (const w of consumers?.windows ?? []) {
    if (w.issued === 0) continue;
    const loadMetricStats = w.rateLimited ? [{ metricName: RATE_LIMITED_METRIC, numRequestsFinishedWithMetric: BigInt(w.rateLimited), totalMetricValue: w.rateLimited }] : [];
    clusterStats.push({
      clusterName: w.cluster,
      clusterServiceName: `${CONSUMER_SERVICE_PREFIX}${w.direction}/${w.consumer}`,
      upstreamLocalityStats: [{ totalSuccessfulRequests: BigInt(w.success), totalErrorRequests: BigInt(w.error), totalIssuedRequests: BigInt(w.issued), latency: w, loadMetricStats }],
      loadReportInterval: interval,
    });
    reported.push(w);
  }
  return clusterStats;
}
