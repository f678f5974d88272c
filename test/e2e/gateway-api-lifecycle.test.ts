// API versions and analytics at the edge, real processes: `weft control-plane` and `weft gateway`
// configured with `weft apply`, in-process upstreams for v1 and v2, plain HTTP clients.
//  - Versions are routed by path, header and query; responses of v1 (ApiLifecyclePolicy) carry
//    Deprecation (RFC 9745), Sunset (RFC 8594) and Link headers; v0, past its sunset with
//    rejectAfterSunset, answers 410 Gone; v2 (the default) carries none.
//  - The gateway's Prometheus metrics count deprecated usage and requests per consumer, and its
//    load reports reach `weft stat --by consumer`.
//  - Named consumers: the API-key filter is not on this branch, so a second, in-process gateway
//    sets the consumer from a test header (test/harness/consumer-filter.ts) and sends real load
//    reports (LRS over gRPC) to the same control plane; `weft stat --by consumer` prints a row per
//    consumer with exact request and error counts.
import { create } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/log.js';
import { NodeSchema } from '../../proto/gen/envoy/config/core/v3/base_pb.js';
import { ConsumerLabels } from '../../sidecar/telemetry/consumer-label.js';
import { ConsumerStats } from '../../sidecar/telemetry/consumer-stats.js';
import { LoadReporter } from '../../sidecar/telemetry/load-reporter.js';
import { RequestStats } from '../../sidecar/telemetry/request-stats.js';
import { CONSUMER_FROM_HEADER } from '../harness/consumer-filter.js';
import { eventually, freePort, startControlPlane, startGateway, weft, weftApply, type ControlPlaneProc, type GatewayProc } from '../harness/processes.js';
import { inProcessGateway, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type Upstream } from '../harness/sidecar.js';

const SUCCESSOR = '<https://api.example.com/v2/orders>; rel="successor-version"';
const DOCS = '<https://developer.example.com/deprecations/orders-v1>; rel="deprecation"';

const config = (gwPort: number, v1: number, v2: number) => `${PLAINTEXT_MESH}---
${service('orders-v1', [v1])}---
${service('orders-v2', [v2])}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: ${gwPort}, protocol: HTTP }]
---
apiVersion: weft.dev/v1alpha1
kind: ApiLifecyclePolicy
metadata: { name: orders-v1 }
spec:
  deprecation: "2026-01-01T00:00:00Z"
  sunset: "2099-01-01T00:00:00Z"
  successor: https://api.example.com/v2/orders
  link: https://developer.example.com/deprecations/orders-v1
---
apiVersion: weft.dev/v1alpha1
kind: ApiLifecyclePolicy
metadata: { name: orders-v0 }
spec:
  deprecation: "2024-01-01"
  sunset: "2025-01-01"
  successor: https://api.example.com/v2/orders
  rejectAfterSunset: true
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /v0 } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: ApiLifecyclePolicy, name: orders-v0 } }]
      backendRefs: [{ name: orders-v1, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /v1 } }, { headers: [{ name: api-version, value: "1" }] }, { queryParams: [{ name: version, value: "1" }] }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: ApiLifecyclePolicy, name: orders-v1 } }]
      backendRefs: [{ name: orders-v1, port: 8080 }]
    - backendRefs: [{ name: orders-v2, port: 8080 }]
`;

type ConsumerRow = { consumer: string; requests: number; errors: number; errorRate: number; rateLimited: number; sidecars: number };
async function consumerRows(cp: ControlPlaneProc): Promise<ConsumerRow[]> {
  const r = await weft(['stat', '--by', 'consumer', '--window', '1m', '-o', 'json'], { cp });
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as ConsumerRow[];
}

describe('API versions and analytics at a weft gateway', () => {
  let cp: ControlPlaneProc;
  let gw: GatewayProc;
  let v1: Upstream;
  let v2: Upstream;
  let gwPort = 0;
  let yaml = '';

  beforeAll(async () => {
    cp = await startControlPlane({ extraArgs: ['--load-report-interval', '1s'] });
    v1 = await upstream((_q, s) => s.end('v1'));
    v2 = await upstream((_q, s) => s.end('v2'));
    gwPort = await freePort();
    yaml = config(gwPort, v1.port, v2.port);
    const applied = await weftApply(cp, yaml);
    expect(applied.code, applied.stderr).toBe(0);
    gw = await startGateway(cp.xdsPort, 'default/edge');
    await eventually(async () => (await send(gwPort, '/orders', { host: 'api' }).catch(() => undefined))?.status === 200, 20_000, 100);
  }, 60_000);

  afterAll(async () => {
    await gw?.kill();
    await cp?.kill();
    await Promise.all([v1?.close(), v2?.close()]);
  });

  it.each([
    ['the path', '/v1/orders', {}],
    ['a header', '/orders', { 'api-version': '1' }],
    ['the query', '/orders?version=1', {}],
  ] as const)('routes v1 by %s, with Deprecation, Sunset and Link', async (_by, path, headers) => {
    const r = await send(gwPort, path, { host: 'api', headers });
    expect([r.status, r.body]).toEqual([200, 'v1']);
    expect([r.headers.deprecation, r.headers.sunset, r.headers.link]).toEqual(['@1767225600', 'Thu, 01 Jan 2099 00:00:00 GMT', `${SUCCESSOR}, ${DOCS}`]);
  });

  it('the default version (v2) has no lifecycle headers; v0 past its sunset answers 410 Gone and is not forwarded', async () => {
    const d = await send(gwPort, '/orders', { host: 'api' });
    expect([d.status, d.body, d.headers.deprecation]).toEqual([200, 'v2', undefined]);
    const seen = v1.seen.length;
    const gone = await send(gwPort, '/v0/orders', { host: 'api' });
    expect([gone.status, gone.headers['x-weft-error'], gone.headers.deprecation, gone.headers.sunset, gone.headers.link]).toEqual([410, 'API_SUNSET', '@1704067200', 'Wed, 01 Jan 2025 00:00:00 GMT', SUCCESSOR]);
    expect(v1.seen.length).toBe(seen);
  });

  it('counts deprecated usage and requests per consumer in its metrics, and reports them to weft stat --by consumer', async () => {
    const text = await (await fetch(`${gw.admin}/stats/prometheus`)).text();
    expect(text).toMatch(/^weft_api_deprecated_requests_total\{policy="default\/orders-v1",consumer="anonymous"\} 3$/m);
    expect(text).toMatch(/^weft_api_sunset_rejections_total\{policy="default\/orders-v0",consumer="anonymous"\} 1$/m);
    // The 410 is answered before the router, and counted under its route's cluster.
    expect(text).toMatch(/^weft_consumer_errors_total\{direction="gateway",route="default\/orders\/rule-0",cluster="outbound\|8080\|\|orders-v1.default",consumer="anonymous"\} 1$/m);
    expect(text).toMatch(/^weft_consumer_requests_total\{direction="gateway",route="default\/orders\/rule-1",cluster="outbound\|8080\|\|orders-v1.default",consumer="anonymous"\} 3$/m);
    // No more requests reach this gateway: its load reports must come to what its metrics say.
    const sum = (metric: string) => [...text.matchAll(new RegExp(`^${metric}\\{[^}]*consumer="anonymous"\\} (\\d+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
    const [requests, errors] = [sum('weft_consumer_requests_total'), sum('weft_consumer_errors_total')];
    expect(requests).toBeGreaterThanOrEqual(5); // 3 x v1, v2, the 410 (and the readiness probe's)
    const row = await eventually(async () => (await consumerRows(cp)).find((x) => x.consumer === 'anonymous' && x.requests === requests), 30_000, 250);
    expect(row.errors).toBe(errors);
    expect(errors).toBeGreaterThanOrEqual(1); // the 410: the proxy's own refusal
    expect(row.sidecars).toBe(1);
  }, 60_000);

  describe('named consumers (a second gateway, in process, consumer from a test header)', () => {
    let inproc: InProcessGateway;
    let reporter: LoadReporter;

    beforeAll(async () => {
      const consumers = new ConsumerStats({ labels: new ConsumerLabels(2) });
      const requests = new RequestStats();
      inproc = await inProcessGateway([yaml], 'default/edge', {
        prepend: CONSUMER_FROM_HEADER,
        observer: (d, status, g, ms) => {
          requests.record('gateway', d.info.clusterName, d.info.routeName, status, g, ms);
          consumers.record('gateway', d.info, status, g, ms);
        },
      });
      reporter = new LoadReporter({
        address: `127.0.0.1:${cp.xdsPort}`,
        tls: undefined,
        node: () => create(NodeSchema, { id: 'edge-inproc.default', userAgentName: 'weft-test' }),
        stats: requests,
        consumers,
        inProgress: () => 0,
        logger: createLogger('lrs-test', 'silent'),
      });
      reporter.start();
    });
    afterAll(async () => {
      reporter?.close();
      await inproc?.close();
    });

    it('prints one row per consumer: requests and errors exact, the third name folded into other', async () => {
      const p = inproc.port();
      const go = (n: number, consumer: string, path: string) => Promise.all(Array.from({ length: n }, () => send(p, path, { host: 'api', headers: { 'x-test-consumer': consumer } })));
      await go(12, 'alice', '/v1/orders');
      await go(3, 'alice', '/v0/orders');
      await go(5, 'bob', '/orders');
      await go(2, 'carol', '/orders');
      const rows = await eventually(async () => {
        const all = await consumerRows(cp);
        const by = (c: string) => all.find((x) => x.consumer === c);
        return by('alice')?.requests === 15 && by('bob')?.requests === 5 && by('other')?.requests === 2 ? all : undefined;
      }, 30_000, 250);
      const alice = rows.find((x) => x.consumer === 'alice')!;
      expect([alice.errors, alice.errorRate, alice.rateLimited, alice.sidecars]).toEqual([3, 0.2, 0, 1]);
      const table = await weft(['stat', '--by', 'consumer', '--window', '1m'], { cp });
      process.stdout.write(`${table.stdout}\n`);
      expect(table.stdout).toMatch(/^CONSUMER\s+REQUESTS\s+RPS\s+ERRORS\s+P50\s+P99\s+RATE-LIMITED\s+SIDECARS$/m);
      expect(table.stdout).toMatch(/^alice\s+15\s+\S+\s+20\.00%\s+\S+\s+\S+\s+0\s+1$/m);
      expect(table.stdout).toMatch(/^bob\s+5\s+\S+\s+0\.00%\s+\S+\s+\S+\s+0\s+1$/m);
    }, 60_000);
  });
});
