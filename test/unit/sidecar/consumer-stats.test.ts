// Per-consumer analytics (telemetry/consumer-stats.ts): what counts as an error and as rate
// limited, the bounded consumer label (anonymous, the first N names, then other) proven with
// many distinct consumers in the rendered Prometheus text, the series bound, and no new objects
// for a request whose group exists.
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../common/prometheus.js';
import { registerConsumerMetrics } from '../../../sidecar/admin/server.js';
import { RequestInfo } from '../../../sidecar/http/filter.js';
import { ConsumerLabels } from '../../../sidecar/telemetry/consumer-label.js';
import { ConsumerStats } from '../../../sidecar/telemetry/consumer-stats.js';
import { DURATION_BOUNDS } from '../../../sidecar/telemetry/request-stats.js';

const CLUSTER = 'outbound|8080||orders.default';
function info(consumer: string, weftError = '', route = 'default/orders/rule-0', cluster = CLUSTER): RequestInfo {
  const i = new RequestInfo();
  i.consumer = consumer;
  i.weftError = weftError;
  i.routeName = route;
  i.clusterName = cluster;
  return i;
}

/** Distinct values of `label` among the samples of `metric` in a Prometheus text. */
function labelValues(text: string, metric: string, label: string): string[] {
  const re = new RegExp(`^${metric}\\{[^}]*\\b${label}="([^"]*)"`, 'gm');
  return [...new Set([...text.matchAll(re)].map((m) => m[1]!))].sort();
}

describe('ConsumerStats', () => {
  it('counts requests, errors (failures and the proxy\'s own refusals) and rate-limit refusals per route and consumer', () => {
    const s = new ConsumerStats({ labels: new ConsumerLabels(10) });
    s.record('gateway', info('alice'), 200, -1, 3);
    s.record('gateway', info('alice'), 503, -1, 1);
    s.record('gateway', info('alice', 'RATE_LIMITED'), 429, -1, 0.2);
    s.record('gateway', info('alice', 'QUOTA_EXCEEDED'), 429, -1, 0.2);
    s.record('gateway', info('alice', 'API_KEY_INVALID'), 401, -1, 0.2);
    s.record('gateway', info('alice'), 404, -1, 2); // the upstream's 4xx: not an error
    s.record('gateway', info(''), 200, -1, 2);
    s.record('gateway', info('alice', '', 'default/orders/rule-1'), 200, -1, 2);
    expect(s.groups.map((g) => [g.labels.route, g.labels.consumer, g.requests, g.errors, g.rateLimited])).toEqual([
      ['default/orders/rule-0', 'alice', 6, 4, 2],
      ['default/orders/rule-0', 'anonymous', 1, 0, 0],
      ['default/orders/rule-1', 'alice', 1, 0, 0],
    ]);
    // 3 ms in (0.0025, 0.005]
    expect(s.groups[0]!.counts[DURATION_BOUNDS.indexOf(0.005)]).toBe(1);
    // One load window per (direction, cluster, consumer): both of alice's routes share it.
    expect(s.windows.map((w) => [w.consumer, w.issued, w.error, w.success, w.rateLimited])).toEqual([
      ['alice', 7, 4, 3, 2],
      ['anonymous', 1, 0, 1, 0],
    ]);
  });

  it('bounds the consumer label: 5,000 distinct consumers render as anonymous, the first 20 names and other', async () => {
    const labels = new ConsumerLabels(20);
    const s = new ConsumerStats({ labels });
    for (let i = 0; i < 5000; i++) s.record('gateway', info(`consumer-${i}`), 200, -1, 1);
    s.record('gateway', info(''), 200, -1, 1);
    const m = new Metrics({ defaultMetrics: false });
    registerConsumerMetrics(m, s);
    const text = await m.text();
    const values = labelValues(text, 'weft_consumer_requests_total', 'consumer');
    expect(values).toEqual([...Array.from({ length: 20 }, (_, i) => `consumer-${i}`), 'anonymous', 'other'].sort());
    expect(labelValues(text, 'weft_consumer_request_duration_seconds_bucket', 'consumer')).toEqual(values);
    expect(text).toMatch(/^weft_consumer_requests_total\{direction="gateway",route="default\/orders\/rule-0",cluster="outbound\|8080\|\|orders.default",consumer="other"\} 4980$/m);
    expect(text).toMatch(/^weft_consumer_label_folded_total 4980$/m);
    expect(s.groups.length).toBe(22);
    expect(s.windows.length).toBe(22);
  });

  it('folds groups past maxSeries into route, cluster and consumer "other"', () => {
    const s = new ConsumerStats({ maxSeries: 3, labels: new ConsumerLabels(100) });
    for (let i = 0; i < 10; i++) s.record('gateway', info('alice', '', `route-${i}`), 200, -1, 1);
    expect(s.groups.map((g) => [g.labels.route, g.labels.cluster, g.labels.consumer, g.requests])).toEqual([
      ['route-0', CLUSTER, 'alice', 1],
      ['route-1', CLUSTER, 'alice', 1],
      ['route-2', CLUSTER, 'alice', 1],
      ['other', 'other', 'other', 7],
    ]);
    expect(s.overflowed).toBe(7);
  });

  it('counts a refusal made before the router under its route\'s cluster (one cluster), else none', () => {
    const s = new ConsumerStats({ labels: new ConsumerLabels(10) });
    const refused = info('alice', 'RATE_LIMITED', 'default/orders/rule-0', '');
    refused.route = { kind: 'forward', cluster: CLUSTER, weighted: undefined } as unknown as RequestInfo['route'];
    s.record('gateway', refused, 429, -1, 0.1);
    const split = info('alice', 'RATE_LIMITED', 'default/orders/rule-1', '');
    split.route = { kind: 'forward', cluster: undefined, weighted: {} } as unknown as RequestInfo['route'];
    s.record('gateway', split, 429, -1, 0.1);
    expect(s.groups.map((g) => [g.labels.route, g.labels.cluster, g.rateLimited])).toEqual([
      ['default/orders/rule-0', CLUSTER, 1],
      ['default/orders/rule-1', '', 1],
    ]);
  });

  it('makes nothing new for a request whose group exists', () => {
    const s = new ConsumerStats({ labels: new ConsumerLabels(10) });
    const i = info('alice');
    s.record('gateway', i, 200, -1, 1);
    const g = s.groups[0]!;
    for (let k = 0; k < 1000; k++) s.record('gateway', i, 200, -1, 1);
    expect([s.groups.length, s.groups[0]].every((x, n) => (n === 0 ? x === 1 : x === g))).toBe(true);
    expect(g.labels).toBe(s.groups[0]!.labels);
    expect(Object.isFrozen(g.labels)).toBe(true);
  });
});
