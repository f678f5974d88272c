// encodeLoadStatsRequest: what it writes decodes (with the generated schema) to the same message
// protobuf-es's own encoder makes of the same input: random reports, zeros (defaults, left out)
// and large counters included, and the node bytes carried as they were encoded.
import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LoadStatsRequestSchema } from '../../../proto/gen/envoy/service/load_stats/v3/lrs_pb.js';
import { NodeSchema } from '../../../proto/gen/envoy/config/core/v3/base_pb.js';
import { encodeLoadStatsRequest, type ClusterStatsInit } from '../../../sidecar/telemetry/load-report-encode.js';

const node = create(NodeSchema, { id: 'web-1.default', cluster: 'web', userAgentName: 'weft-sidecar', metadata: { 'weft.role': 'sidecar', 'weft.labels': { app: 'web' }, port: 8080 } as never });
const nodeBytes = toBinary(NodeSchema, node);

const u64 = fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 1000n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
const metric = fc.record({ metricName: fc.oneof(fc.constant(''), fc.string({ maxLength: 24 }), fc.string({ unit: 'binary', maxLength: 8 })), numRequestsFinishedWithMetric: u64, totalMetricValue: fc.oneof(fc.constant(0), fc.constant(-0), fc.double({ noNaN: true })) });
const cluster: fc.Arbitrary<ClusterStatsInit> = fc.record({
  clusterName: fc.oneof(fc.constant(''), fc.string({ maxLength: 30 })),
  clusterServiceName: fc.oneof(fc.constant(''), fc.string({ maxLength: 30 })),
  upstreamLocalityStats: fc.array(
    fc.record({ totalSuccessfulRequests: u64, totalErrorRequests: u64, totalIssuedRequests: u64, totalRequestsInProgress: fc.option(u64, { nil: undefined }), loadMetricStats: fc.array(metric, { maxLength: 6 }) }, { requiredKeys: ['totalSuccessfulRequests', 'totalErrorRequests', 'totalIssuedRequests', 'loadMetricStats'] }),
    { maxLength: 2 },
  ),
  loadReportInterval: fc.record({ seconds: fc.bigInt({ min: 0n, max: 2n ** 40n }), nanos: fc.integer({ min: 0, max: 999_999_999 }) }),
});

describe('encodeLoadStatsRequest', () => {
  it('decodes to what protobuf-es encodes from the same report (random reports)', () => {
    fc.assert(
      fc.property(fc.array(cluster, { maxLength: 4 }), (clusterStats) => {
        const mine = fromBinary(LoadStatsRequestSchema, encodeLoadStatsRequest(nodeBytes, clusterStats));
        const theirs = fromBinary(LoadStatsRequestSchema, toBinary(LoadStatsRequestSchema, create(LoadStatsRequestSchema, { node, clusterStats })));
        expect(equals(LoadStatsRequestSchema, mine, theirs)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('a report of one route: every figure where the control plane reads it', () => {
    const bytes = encodeLoadStatsRequest(nodeBytes, [
      {
        clusterName: 'outbound|8080||api.default',
        clusterServiceName: 'weft.route/outbound/api',
        upstreamLocalityStats: [{ totalSuccessfulRequests: 97n, totalErrorRequests: 3n, totalIssuedRequests: 100n, totalRequestsInProgress: 2n, loadMetricStats: [{ metricName: 'weft.latency_ms.12', numRequestsFinishedWithMetric: 100n, totalMetricValue: 41.5 }] }],
        loadReportInterval: { seconds: 5n, nanos: 250_000_000 },
      },
    ]);
    const r = fromBinary(LoadStatsRequestSchema, bytes);
    expect(r.node?.id).toBe('web-1.default');
    const c = r.clusterStats[0]!;
    expect([c.clusterName, c.clusterServiceName, c.loadReportInterval?.seconds, c.loadReportInterval?.nanos]).toEqual(['outbound|8080||api.default', 'weft.route/outbound/api', 5n, 250_000_000]);
    const u = c.upstreamLocalityStats[0]!;
    expect([u.totalSuccessfulRequests, u.totalErrorRequests, u.totalIssuedRequests, u.totalRequestsInProgress]).toEqual([97n, 3n, 100n, 2n]);
    expect(u.loadMetricStats.map((m) => [m.metricName, m.numRequestsFinishedWithMetric, m.totalMetricValue])).toEqual([['weft.latency_ms.12', 100n, 41.5]]);
  });
});
