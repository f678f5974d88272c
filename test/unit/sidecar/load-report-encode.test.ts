// encodeLoadStatsRequest: what it writes decodes (with the generated schema) to the same message
// protobuf-es's own encoder makes of the same input: random reports, zeros (defaults, left out),
// large counters and latency histograms (written from their arrays) included, and the node bytes
// carried as they were encoded.
import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import { strictFromBinary } from '../../../common/wire-strict.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LoadStatsRequestSchema } from '../../../proto/gen/envoy/service/load_stats/v3/lrs_pb.js';
import { NodeSchema } from '../../../proto/gen/envoy/config/core/v3/base_pb.js';
import { encodeLoadStatsRequest, type ClusterStatsInit, type LatencyHistogram } from '../../../sidecar/telemetry/load-report-encode.js';
import { LATENCY_METRIC_PREFIX } from '../../../common/lrs-service.js';

const node = create(NodeSchema, { id: 'web-1.default', cluster: 'web', userAgentName: 'weft-sidecar', metadata: { 'weft.role': 'sidecar', 'weft.labels': { app: 'web' }, port: 8080 } as never });
const nodeBytes = toBinary(NodeSchema, node);

const u64 = fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 1000n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
const metric = fc.record({ metricName: fc.oneof(fc.constant(''), fc.string({ maxLength: 24 }), fc.string({ unit: 'binary', maxLength: 8 })), numRequestsFinishedWithMetric: u64, totalMetricValue: fc.oneof(fc.constant(0), fc.constant(-0), fc.double({ noNaN: true })) });
// A window's histogram: mostly empty buckets, counts up to 2^32 - 1, sums with 0 and -0.
const histogram = fc.integer({ min: 1, max: 340 }).chain((len) =>
  fc
    .array(fc.record({ i: fc.nat(len - 1), n: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 2 ** 32 - 1 })), sum: fc.oneof(fc.constant(0), fc.constant(-0), fc.double({ noNaN: true, noDefaultInfinity: true })) }), { maxLength: 12 })
    .map((cells) => {
      const latCount = new Uint32Array(len);
      const latSum = new Float64Array(len);
      for (const c of cells) [latCount[c.i], latSum[c.i]] = [c.n, c.sum];
      return { latCount, latSum };
    }),
);
/** What the histogram stands for: one metric per bucket that counted requests, in bucket order. */
function histogramMetrics(h: LatencyHistogram | undefined) {
  const out = [];
  for (let i = 0; h && i < h.latCount.length; i++) if (h.latCount[i]) out.push({ metricName: `${LATENCY_METRIC_PREFIX}${i}`, numRequestsFinishedWithMetric: BigInt(h.latCount[i]!), totalMetricValue: h.latSum[i]! });
  return out;
}

const cluster: fc.Arbitrary<ClusterStatsInit> = fc.record({
  clusterName: fc.oneof(fc.constant(''), fc.string({ maxLength: 30 })),
  clusterServiceName: fc.oneof(fc.constant(''), fc.string({ maxLength: 30 })),
  upstreamLocalityStats: fc.array(
    fc.record({ totalSuccessfulRequests: u64, totalErrorRequests: u64, totalIssuedRequests: u64, totalRequestsInProgress: fc.option(u64, { nil: undefined }), latency: histogram, loadMetricStats: fc.array(metric, { maxLength: 6 }) }, { requiredKeys: ['totalSuccessfulRequests', 'totalErrorRequests', 'totalIssuedRequests', 'loadMetricStats'] }),
    { maxLength: 2 },
  ),
  loadReportInterval: fc.record({ seconds: fc.bigInt({ min: 0n, max: 2n ** 40n }), nanos: fc.integer({ min: 0, max: 999_999_999 }) }),
});

describe('encodeLoadStatsRequest', () => {
  it('decodes to what protobuf-es encodes from the same report (random reports)', () => {
    fc.assert(
      fc.property(fc.array(cluster, { maxLength: 4 }), (clusterStats) => {
        // Strictly: protobuf-es's reader alone accepts a nested message whose length is one byte
        // short when it ends in a fixed64, so an off-by-one metric length would pass fromBinary.
        const mine = strictFromBinary(LoadStatsRequestSchema, encodeLoadStatsRequest(nodeBytes, clusterStats));
        // protobuf-es gets the histogram as the metrics it stands for, ahead of the others.
        const plain = clusterStats.map((c) => ({ ...c, upstreamLocalityStats: c.upstreamLocalityStats.map(({ latency, ...u }) => ({ ...u, loadMetricStats: [...histogramMetrics(latency), ...u.loadMetricStats] })) }));
        const theirs = fromBinary(LoadStatsRequestSchema, toBinary(LoadStatsRequestSchema, create(LoadStatsRequestSchema, { node, clusterStats: plain })));
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
