// LoadStore.queryEdges: the dashboard graph's edges, (source service -> destination service) from
// sidecars' outbound reports, merged across replicas the way /v1/stats merges (exportWindow/absorb).
import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { LoadStatsRequestSchema } from '../../../proto/gen/envoy/service/load_stats/v3/lrs_pb.js';
import { LoadStore } from '../../../control-plane/telemetry/load-store.js';

/** One report (one per sidecar per interval) with a cluster entry per [destination, ok, errors]. */
const outbound = (...calls: Array<[string, number, number]>) =>
  create(LoadStatsRequestSchema, {
    clusterStats: calls.map(([dest, ok, err]) => ({
      clusterName: `outbound|8080||${dest}`,
      clusterServiceName: 'weft/outbound/default',
      loadReportInterval: { seconds: 1n },
      upstreamLocalityStats: [{ totalSuccessfulRequests: BigInt(ok), totalErrorRequests: BigInt(err), totalIssuedRequests: BigInt(ok + err), loadMetricStats: [{ metricName: 'weft.latency_ms.10', numRequestsFinishedWithMetric: BigInt(ok + err), totalMetricValue: 12 * (ok + err) }] }],
    })),
  });

describe('LoadStore.queryEdges', () => {
  it('has one edge per (source, destination) service, summed over the sidecars of the source and over replicas', () => {
    const t = 5_000_000;
    const a = new LoadStore();
    const b = new LoadStore();
    for (let k = 0; k < 3; k++) {
      a.record('web-1', { service: 'web', namespace: 'default' }, outbound(['orders.default', 9, 1]), 1000, t + k * 1000);
      b.record('web-2', { service: 'web', namespace: 'default' }, outbound(['orders.default', 10, 0], ['users.default', 5, 0]), 1000, t + k * 1000);
      a.record('orders-1', { service: 'orders', namespace: 'default' }, outbound(['users.default', 2, 2]), 1000, t + k * 1000);
    }
    const merged = new LoadStore();
    merged.absorb(a.exportWindow(60_000, t + 3000));
    merged.absorb(b.exportWindow(60_000, t + 3000));
    const edges = merged.queryEdges({ windowMs: 60_000, now: t + 3000 });
    expect(edges.map((e) => [e.source, e.destination, e.requests, e.errors, e.sidecars])).toEqual([
      ['orders.default', 'users.default', 12, 6, 1],
      ['web.default', 'orders.default', 60, 3, 2],
      ['web.default', 'users.default', 15, 0, 1],
    ]);
    const webOrders = edges.find((e) => e.source === 'web.default' && e.destination === 'orders.default')!;
    expect(webOrders.successRate).toBeCloseTo(57 / 60, 9);
    expect(webOrders.rps).toBeCloseTo(20, 6); // 10/s from each of two sidecars
    expect(webOrders.p50Ms).toBe(12);
    // Inbound rows are not edges, and query() is unchanged by the edges' reports.
    expect(merged.query({ windowMs: 60_000, now: t + 3000 })).toEqual([]);
  });
});
