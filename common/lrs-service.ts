/**
 * The gRPC definition of envoy.service.load_stats.v3.LoadReportingService (LRS), (de)serialized
 * with wire tables (common/wire-decode.ts, wire-encode.ts: the sidecar builds no protobuf-es
 * descriptor for them), shared by the control plane's server and the sidecar's reporter.
 *
 * How Weft fills the standard ClusterStats (docs/observability.md, "Load reports"):
 *  - one ClusterStats per (cluster, route) the sidecar served in the interval; `cluster_name` is the
 *    cluster (`inbound|...` for the local app, `outbound|...` for a destination), and
 *    `cluster_service_name` is `weft/<direction>/<route name>` (several ClusterStats may share a
 *    cluster_name; LRS says a management server aggregates those);
 *  - one UpstreamLocalityStats with the standard totals (successful, error, issued, in progress);
 *  - the latency histogram as `load_metric_stats` named `weft.latency_ms.<bucket>`: the request
 *    count of the bucket and the sum of their latencies in ms (bucket i: up to 0.05 * 1.05^i ms).
 *
 * Per-consumer analytics (API gateway) travel as further ClusterStats, one per (direction,
 * cluster, consumer) the proxy served in the interval, shaped the same way:
 *  - `cluster_name` the cluster, `cluster_service_name` `weft-consumer/<direction>/<consumer>`
 *    (the consumer label: a Consumer's name, `anonymous` or `other`; see
 *    sidecar/telemetry/consumer-label.ts). They repeat requests the route entries already
 *    count, so a management server must not add them to those;
 *  - the standard totals, where an error also counts the proxy's own refusals (x-weft-error);
 *  - the same `weft.latency_ms.<bucket>` histogram, and `weft.rate_limited`: the requests refused
 *    RATE_LIMITED or QUOTA_EXCEEDED (num_requests_finished_with_metric; total_metric_value the same).
 */
import { decodeMessage } from './wire-decode.js';
import { encodeMessage } from './wire-encode.js';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { LoadStatsRequestSchema, LoadStatsResponseSchema, type LoadStatsRequest, type LoadStatsResponse } from '../proto/gen/envoy/service/load_stats/v3/lrs_pb.js';

export const LATENCY_METRIC_PREFIX = 'weft.latency_ms.';
export const ROUTE_SERVICE_PREFIX = 'weft/';
export const CONSUMER_SERVICE_PREFIX = 'weft-consumer/';
export const RATE_LIMITED_METRIC = 'weft.rate_limited';

export const lrsServiceDefinition = {
  StreamLoadStats: {
    path: '/envoy.service.load_stats.v3.LoadReportingService/StreamLoadStats',
    requestStream: true,
    responseStream: true,
    // The sidecar's reporter writes requests already encoded (sidecar/telemetry/load-report-encode.ts).
    requestSerialize: (m: LoadStatsRequest | Uint8Array) => (m instanceof Uint8Array ? Buffer.from(m.buffer, m.byteOffset, m.byteLength) : Buffer.from(encodeMessage(LoadStatsRequestSchema, m))),
    requestDeserialize: (b: Buffer) => decodeMessage(LoadStatsRequestSchema, b),
    responseSerialize: (m: LoadStatsResponse) => Buffer.from(encodeMessage(LoadStatsResponseSchema, m)),
    responseDeserialize: (b: Buffer) => decodeMessage(LoadStatsResponseSchema, b),
  },
} satisfies ServiceDefinition;

/** `weft/<direction>/<route>` → [direction, route]; undefined for other services' names. */
export function parseRouteService(s: string): { direction: string; route: string } | undefined {
  if (!s.startsWith(ROUTE_SERVICE_PREFIX)) return undefined;
  const rest = s.slice(ROUTE_SERVICE_PREFIX.length);
  const i = rest.indexOf('/');
  if (i <= 0) return undefined;
  return { direction: rest.slice(0, i), route: rest.slice(i + 1) };
}

/** `weft-consumer/<direction>/<consumer>` -> [direction, consumer]; undefined for other names. */
export function parseConsumerService(s: string): { direction: string; consumer: string } | undefined {
  if (!s.startsWith(CONSUMER_SERVICE_PREFIX)) return undefined;
  const rest = s.slice(CONSUMER_SERVICE_PREFIX.length);
  const i = rest.indexOf('/');
  if (i <= 0 || i === rest.length - 1) return undefined;
  return { direction: rest.slice(0, i), consumer: rest.slice(i + 1) };
}
