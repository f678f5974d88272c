// Per-consumer load reports end to end in process: a proxy's ConsumerStats encoded as LRS
// ClusterStats (weft-consumer/<direction>/<consumer>) by the reporter, filed by the control plane's
// LoadStore apart from the route entries (no double counting), aggregated per consumer over a
// window across proxies; and `weft stat --by consumer` printing those rows.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoadStatsRequestSchema } from '../../../proto/gen/envoy/service/load_stats/v3/lrs_pb.js';
import { NodeSchema } from '../../../proto/gen/envoy/config/core/v3/base_pb.js';
import { encodeLoadStatsRequest } from '../../../sidecar/telemetry/load-report-encode.js';
import { LoadStore, type ConsumerStatRow } from '../../../control-plane/telemetry/load-store.js';
import { stat } from '../../../control-plane/cli/verbs/stat.js';
import { RequestInfo } from '../../../sidecar/http/filter.js';
import { ConsumerLabels } from '../../../sidecar/telemetry/consumer-label.js';
import { ConsumerStats } from '../../../sidecar/telemetry/consumer-stats.js';
import { consumerClusterStats } from '../../../sidecar/telemetry/load-reporter.js';

const CLUSTER = 'outbound|8080||orders.default';
function info(consumer: string, weftError = ''): RequestInfo {
  const i = new RequestInfo();
  [i.consumer, i.weftError, i.routeName, i.clusterName] = [consumer, weftError, 'default/api/rule-0', CLUSTER];
  return i;
}
const ONE_SECOND = { seconds: 1n, nanos: 0 };
const NODE = toBinary(NodeSchema, create(NodeSchema, { id: 'gw' }));

/** What two gateways report for one second each: alice 100 requests (10 rate limited, 5 5xx), bob 10, anonymous 4. */
function store(): LoadStore {
  const s = new LoadStore();
  const t = 1_000_000;
  for (const node of ['gw-1', 'gw-2']) {
    const c = new ConsumerStats({ labels: new ConsumerLabels(10) });
    for (let i = 0; i < 50; i++) c.record('gateway', info('alice', i < 5 ? 'RATE_LIMITED' : ''), i < 5 ? 429 : i < 8 ? 503 : 200, -1, i < 25 ? 10 : 40);
    for (let i = 0; i < 5; i++) c.record('gateway', info('bob'), 200, -1, 5);
    for (let i = 0; i < 2; i++) c.record('gateway', info('', 'API_KEY_MISSING'), 401, -1, 0.1);
    // The route entries (what RequestStats reports) ride along: they must not be counted again.
    const routeEntry = { clusterName: CLUSTER, clusterServiceName: 'weft/gateway/default/api/rule-0', loadReportInterval: ONE_SECOND, upstreamLocalityStats: [{ totalSuccessfulRequests: 50n, totalErrorRequests: 7n, totalIssuedRequests: 57n, loadMetricStats: [] }] };
    // As the reporter sends it: encoded (histograms read from the windows), then the windows reset.
    const reported: Array<{ reset(): void }> = [];
    const bytes = encodeLoadStatsRequest(NODE, [routeEntry, ...consumerClusterStats(c, ONE_SECOND, reported)]);
    for (const w of reported) w.reset();
    const req = fromBinary(LoadStatsRequestSchema, bytes);
    s.record(node, { namespace: 'default' }, req, 1000, t);
    expect(c.windows.every((w) => w.issued === 0)).toBe(true); // each window starts anew
  }
  return s;
}

describe('per-consumer load reports', () => {
  it('aggregates per consumer across proxies: requests, rps, error share, rate limited, percentiles', () => {
    const rows = store().queryConsumers({ windowMs: 60_000, direction: 'gateway', now: 1_000_000 });
    expect(rows.map((r) => [r.consumer, r.requests, r.rps, r.errors, r.errorRate, r.rateLimited, r.sidecars])).toEqual([
      ['alice', 100, 100, 16, 0.16, 10, 2],
      ['bob', 10, 10, 0, 0, 0, 2],
      ['anonymous', 4, 4, 4, 1, 0, 2],
    ]);
    const alice = rows[0]!;
    expect(alice.p50Ms).toBeCloseTo(10, 6);
    expect(alice.p99Ms).toBeCloseTo(40, 6);
    expect(store().queryConsumers({ windowMs: 60_000, direction: 'inbound', now: 1_000_000 })).toEqual([]);
    expect(store().queryConsumers({ windowMs: 60_000, direction: 'gateway', service: 'billing.default', now: 1_000_000 })).toEqual([]);
    expect(store().queryConsumers({ windowMs: 60_000, direction: 'gateway', service: 'orders.default', now: 1_000_000 }).length).toBe(3);
  });

  it('keeps the route rows as they were (the consumer entries are not added to them)', () => {
    const rows = store().query({ windowMs: 60_000, direction: 'gateway', now: 1_000_000 });
    expect(rows.map((r) => [r.service, r.requests])).toEqual([['orders.default', 114]]);
  });
});

describe('weft stat --by consumer', () => {
  let srv: http.Server;
  let url = '';
  const asked: string[] = [];
  beforeAll(async () => {
    const rows: ConsumerStatRow[] = store().queryConsumers({ windowMs: 60_000, direction: 'gateway', now: 1_000_000 });
    srv = http.createServer((req, res) => {
      asked.push(req.url ?? '');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ items: rows }));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => srv.close(() => r())));

  it('asks for consumer rows of the gateways and prints one row per consumer', async () => {
    const out: string[] = [];
    const code = await stat.run(['--by', 'consumer', '--window', '5m', '--server', url, '--token', 't'], { out: (s) => out.push(s), err: () => undefined, stdin: async () => '' });
    expect(code).toBe(0);
    expect(asked.at(-1)).toBe('/v1/stats?windowMs=300000&direction=gateway&by=consumer');
    const lines = out.join('\n').split('\n');
    expect(lines[0]!.split(/\s{2,}/)).toEqual(['CONSUMER', 'REQUESTS', 'RPS', 'ERRORS', 'P50', 'P99', 'RATE-LIMITED', 'SIDECARS']);
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/))).toEqual([
      ['alice', '100', '100.0', '16.00%', expect.stringMatching(/^10\.0ms$/), expect.stringMatching(/^40\.0ms$/), '10', '2'],
      ['bob', '10', '10.0', '0.00%', '5.00ms', '5.00ms', '0', '2'],
      ['anonymous', '4', '4.0', '100.00%', '0.10ms', '0.10ms', '0', '2'],
    ]);
  });

  it('refuses an unknown --by', async () => {
    await expect(stat.run(['--by', 'plan', '--server', url], { out: () => undefined, err: () => undefined, stdin: async () => '' })).rejects.toThrow(/--by: want service or consumer, got 'plan'/);
  });
});
