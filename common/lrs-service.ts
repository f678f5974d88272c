/**
 * The gRPC definition of envoy.service.load_stats.v3.LoadReportingService (LRS) with protobuf-es
 * (de)serializers, shared by the control plane's server and the sidecar's reporter.
 *
 * How Weft fills the standard ClusterStats (docs/observability.md, "Load reports"):
 *  - one ClusterStats per (cluster, route) the sidecar served in the interval; `cluster_name` is the
 *    cluster (`inbound|...` for the local app, `outbound|...` for a destination), and
 *    `cluster_service_name` is `weft/<direction>/<route name>` (several ClusterStats may share a
 *    cluster_name; LRS says a management server aggregates those);
 *  - one UpstreamLocalityStats with the standard totals (successful, error, issued, in progress);
 *  - the latency histogram as `load_metric_stats` named `weft.latency_ms.<bucket>`: the request
 *    count of the bucket and the sum of their latencies in ms (bucket i: up to 0.05 * 1.05^i ms).
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { LoadStatsRequestSchema, LoadStatsResponseSchema, type LoadStatsRequest, type LoadStatsResponse } from '../proto/gen/envoy/service/load_stats/v3/lrs_pb.js';

export const LATENCY_METRIC_PREFIX = 'weft.latency_ms.';
export const ROUTE_SERVICE_PREFIX = 'weft/';

export const lrsServiceDefinition = {
  StreamLoadStats: {
    path: '/envoy.service.load_stats.v3.LoadReportingService/StreamLoadStats',
    requestStream: true,
    responseStream: true,
    requestSerialize: (m: LoadStatsRequest) => Buffer.from(toBinary(LoadStatsRequestSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(LoadStatsRequestSchema, b),
    responseSerialize: (m: LoadStatsResponse) => Buffer.from(toBinary(LoadStatsResponseSchema, m)),
    responseDeserialize: (b: Buffer) => fromBinary(LoadStatsResponseSchema, b),
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
