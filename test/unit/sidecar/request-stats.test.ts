import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DURATION_BOUNDS, isFailure, latencyBucket, latencyBucketBound, RequestStats } from '../../../sidecar/telemetry/request-stats.js';

describe('RequestStats', () => {
  it('records each request once into its series, by status class and gRPC status', () => {
    const s = new RequestStats();
    s.record('outbound', 'outbound|8080||orders.default', 'default', 200, -1, 3);
    s.record('outbound', 'outbound|8080||orders.default', 'default', 204, -1, 30);
    s.record('outbound', 'outbound|8080||orders.default', 'default', 503, -1, 1);
    s.record('outbound', 'outbound|9090||pay.default', 'default', 200, 14, 2);
    expect(s.series.map((x) => [x.labels.service, x.labels.status_class, x.labels.grpc_status, x.count])).toEqual([
      ['orders.default', '2xx', '', 2],
      ['orders.default', '5xx', '', 1],
      ['pay.default', '2xx', 'UNAVAILABLE', 1],
    ]);
    const ok = s.series[0]!;
    // 3 ms falls in (0.0025, 0.005], 30 ms in (0.025, 0.05]
    expect(ok.counts[DURATION_BOUNDS.indexOf(0.005)]).toBe(1);
    expect(ok.counts[DURATION_BOUNDS.indexOf(0.05)]).toBe(1);
    expect(ok.sum).toBeCloseTo(0.033, 9);
    const g = s.groups[0]!.load;
    expect([g.issued, g.success, g.error]).toEqual([3, 2, 1]);
    expect(s.groups[1]!.load.error).toBe(1); // UNAVAILABLE is a server error
  });

  it('counts every request in the group of its own (direction, cluster, route), in any order of keys', () => {
    // group() answers a repeat of the last key from a one-entry cache; any key part it ignored
    // would put a request in its neighbour's group.
    const key = fc.tuple(fc.constantFrom('inbound', 'outbound'), fc.constantFrom('c1', 'c2', ''), fc.constantFrom('r1', 'r2', 'default'));
    fc.assert(
      fc.property(fc.array(key, { maxLength: 40 }), fc.integer({ min: 2, max: 30 }), (keys, maxSeries) => {
        const s = new RequestStats({ maxSeries });
        const want = new Map<string, number>();
        const seen: string[] = [];
        for (const [d, c, r] of keys) {
          s.record(d, c, r, 200, -1, 1);
          let k = `${d}|${c}|${r}`;
          if (!seen.includes(k)) {
            if (seen.length >= maxSeries) k = `${d}|other|other`;
            else seen.push(k);
          }
          if (!seen.includes(k) && k.endsWith('|other|other')) seen.push(k);
          want.set(k, (want.get(k) ?? 0) + 1);
        }
        const got = new Map(s.groups.map((g) => [`${g.direction}|${g.cluster}|${g.route}`, g.load.issued]));
        expect(got).toEqual(want);
      }),
      { numRuns: 500 },
    );
  });

  it('folds (route, cluster) pairs past the limit into "other"', () => {
    const s = new RequestStats({ maxSeries: 3 });
    for (let i = 0; i < 10; i++) s.record('outbound', `outbound|80||svc${i}.default`, 'default', 200, -1, 1);
    expect(s.groups.map((g) => g.cluster)).toEqual(['outbound|80||svc0.default', 'outbound|80||svc1.default', 'outbound|80||svc2.default', 'other']);
    expect(s.overflowed).toBe(7);
    expect(s.series.at(-1)!.count).toBe(7);
  });

  it('classifies failures and reads latency buckets within 5%', () => {
    expect(isFailure(0, -1)).toBe(true);
    expect(isFailure(404, -1)).toBe(false);
    expect(isFailure(500, -1)).toBe(true);
    expect(isFailure(200, 5)).toBe(false); // NOT_FOUND: the caller's problem
    expect(isFailure(200, 13)).toBe(true);
    for (const ms of [0.07, 1, 12.5, 250, 9000]) {
      const b = latencyBucket(ms);
      expect(latencyBucketBound(b)).toBeGreaterThanOrEqual(ms);
      expect(latencyBucketBound(b - 1)).toBeLessThan(ms);
      expect(latencyBucketBound(b) / latencyBucketBound(b - 1)).toBeCloseTo(1.05, 9);
    }
  });
});
