import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { LoadStatsRequestSchema } from '../../../proto/gen/envoy/service/load_stats/v3/lrs_pb.js';
import { LoadStore } from '../../../control-plane/telemetry/load-store.js';
import { latencyBucket } from '../../../sidecar/telemetry/request-stats.js';

/** A report as a Weft sidecar sends it: `lat` are request latencies in ms. */
function report(direction: string, cluster: string, route: string, ok: number, err: number, lat: number[], seconds = 1) {
  const buckets = new Map<number, [number, number]>();
  for (const ms of lat) {
    const b = latencyBucket(ms);
    const cur = buckets.get(b) ?? [0, 0];
    cur[0]++;
    cur[1] += ms;
    buckets.set(b, cur);
  }
  return create(LoadStatsRequestSchema, {
    clusterStats: [
      {
        clusterName: cluster,
        clusterServiceName: `weft/${direction}/${route}`,
        loadReportInterval: { seconds: BigInt(seconds) },
        upstreamLocalityStats: [
          {
            totalSuccessfulRequests: BigInt(ok),
            totalErrorRequests: BigInt(err),
            totalIssuedRequests: BigInt(ok + err),
            loadMetricStats: [...buckets].map(([b, [c, s]]) => ({ metricName: `weft.latency_ms.${b}`, numRequestsFinishedWithMetric: BigInt(c), totalMetricValue: s })),
          },
        ],
      },
    ],
  });
}

describe('LoadStore', () => {
  it('aggregates reports of several sidecars over a window: success rate, rate over covered time, percentiles', () => {
    const s = new LoadStore();
    const t = 1_000_000;
    const lat = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100 ms
    for (let k = 0; k < 5; k++) {
      s.record('a', { service: 'orders', namespace: 'default' }, report('inbound', 'inbound|8080|orders.default', 'default', 90, 10, lat), 1000, t + k * 1000);
      s.record('b', { service: 'orders', namespace: 'default' }, report('inbound', 'inbound|8080|orders.default', 'r2', 50, 0, lat.slice(0, 50)), 1000, t + k * 1000);
    }
    const [row] = s.query({ windowMs: 10_000, now: t + 5000 });
    expect(row).toMatchObject({ service: 'orders.default', requests: 750, success: 700, errors: 50, sidecars: 2 });
    expect(row!.successRate).toBeCloseTo(700 / 750, 9);
    expect(row!.rps).toBeCloseTo(150, 6); // 100/s from a, 50/s from b
    // 5 x (1..100) and 5 x (1..50): 1..50 ten times each, 51..100 five times: median 38, p99 ~ 99
    expect(row!.p50Ms! / 38).toBeGreaterThan(0.95);
    expect(row!.p50Ms! / 38).toBeLessThan(1.05);
    expect(row!.p99Ms! / 99).toBeGreaterThan(0.95);
    const perRoute = s.query({ windowMs: 10_000, now: t + 5000, service: 'orders.default' });
    expect(perRoute.map((r) => [r.route, r.requests])).toEqual([['default', 500], ['r2', 250]]);
    expect(s.query({ windowMs: 10_000, now: t + 5000, direction: 'outbound' })).toEqual([]);
  });

  it('counts idle reports in the covered time and forgets what is older than the window', () => {
    const s = new LoadStore();
    const t = 2_000_000;
    s.record('a', { namespace: 'default' }, report('outbound', 'outbound|80||x.default', 'default', 10, 0, [5]), 1000, t);
    s.record('a', { namespace: 'default' }, create(LoadStatsRequestSchema, {}), 1000, t + 1000);
    const [row] = s.query({ windowMs: 5000, now: t + 1000, direction: 'outbound' });
    expect(row!.rps).toBeCloseTo(5, 6); // 10 requests over 2 s covered
    expect(s.query({ windowMs: 5000, now: t + 10_000, direction: 'outbound' })).toEqual([]);
  });
});

describe('LoadStore across replicas (export, absorb)', () => {
  it('reports split over two replicas answer exactly as if one replica held them all', () => {
    const now = Date.now();
    const node = (i: number) => ({ service: 'orders', namespace: 'default', id: `orders-${i}` });
    const one = new LoadStore();
    const a = new LoadStore();
    const b = new LoadStore();
    for (let i = 0; i < 6; i++) {
      const r = report('inbound', 'inbound|8080||orders.default', '', 10 + i, i % 2, Array.from({ length: 10 + i }, (_, k) => 1 + ((k * 7 + i) % 50)));
      one.record(node(i).id, node(i), r, 1000, now - i * 1000);
      (i % 2 ? a : b).record(node(i).id, node(i), r, 1000, now - i * 1000);
    }
    const merged = new LoadStore();
    merged.absorb(JSON.parse(JSON.stringify(a.exportWindow(60_000, now))));
    merged.absorb(JSON.parse(JSON.stringify(b.exportWindow(60_000, now))));
    const q = { windowMs: 60_000, direction: 'inbound', now } as const;
    expect(merged.query(q)).toEqual(one.query(q));
    expect(merged.query(q)[0]).toMatchObject({ sidecars: 6 });
  });

  it('exports only the window asked; a node that reported to two replicas counts the reports of both, each once', () => {
    const now = Date.now();
    const a = new LoadStore();
    a.record('n1', { service: 'web', namespace: 'default' }, report('inbound', 'inbound|8080||web.default', '', 5, 0, [1, 2, 3, 4, 5]), 1000, now - 120_000);
    expect(a.exportWindow(60_000, now).nodes).toEqual([]);
    const mine = new LoadStore();
    mine.record('n1', { service: 'web', namespace: 'default' }, report('inbound', 'inbound|8080||web.default', '', 1, 0, [1]), 1000, now);
    mine.absorb(a.exportWindow(600_000, now));
    mine.absorb(a.exportWindow(600_000, now)); // the same answer twice counts once
    expect(mine.query({ windowMs: 600_000, direction: 'inbound', now })[0]).toMatchObject({ requests: 6, sidecars: 1 });
  });
});
