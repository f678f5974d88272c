// AggregationPolicy at the gateway, in process: the translation (the filter on the listener whose
// routes compose, the Aggregation on the route, a direct-response fallback instead of a cluster)
// and the composed answers through a real gateway listener and a real upstream: calls without
// dependencies in parallel, dependent calls after their dependency with its JSON in their path,
// an optional call's timeout as a partial answer within that timeout, a required call's failure
// or timeout as 502/504 AGGREGATION_FAILED naming the call, bodies over the bound and bodies that
// are not JSON, headers passed, and a call routed back to an aggregating route.
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTENSIONS } from '../../../../common/extensions.js';
import { TYPE_URL } from '../../../../common/xds-types.js';
import { Registry } from '../../../../control-plane/registry/registry.js';
import { Translator } from '../../../../control-plane/translate/index.js';
import { AggregationSchema } from '../../../../proto/gen/weft/v1/aggregation_pb.js';
import type { RouteConfiguration } from '../../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { filterNames, message, modelOf, nodeOf } from '../../../harness/mesh.js';
import { inProcessGateway, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type Upstream } from '../../../harness/sidecar.js';

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8000, protocol: HTTP }]
`;
const policy = (name: string, spec: string) => `apiVersion: weft.dev/v1alpha1
kind: AggregationPolicy
metadata: { name: ${name} }
spec:${spec}
`;
const POLICIES = [
  policy('dash', `
  pathTemplate: /agg/dash/{id}
  calls:
    - { name: user, path: '/users/{path.id}', timeout: 2s }
    - { name: orders, path: '/orders?user={calls.user.body.id}&lang={query.lang}', dependsOn: [user], timeout: 2s }
    - { name: reviews, path: '/reviews/{path.id}', timeout: 2s, optional: true }`),
  policy('slow', `
  calls:
    - { name: user, path: /users/1, timeout: 2s }
    - { name: reviews, path: /slow, timeout: 150ms, optional: true }
    - { name: ratings, path: '/ratings/{calls.reviews.body.id}', dependsOn: [reviews], timeout: 1s, optional: true }`),
  policy('timeout', `
  calls:
    - { name: user, path: /users/1, timeout: 2s }
    - { name: reviews, path: /slow, timeout: 150ms }`),
  policy('fail', `
  calls:
    - { name: user, path: /users/1, timeout: 2s }
    - { name: broken, path: /fail, timeout: 2s }`),
  policy('notjson', `
  calls:
    - { name: text, path: /text, timeout: 2s }`),
  policy('optnotjson', `
  calls:
    - { name: text, path: /text, timeout: 2s, optional: true }
    - { name: empty, path: /empty, timeout: 2s }`),
  policy('big', `
  maxCallBodyBytes: 100
  calls:
    - { name: small, path: /big?n=90, timeout: 2s }
    - { name: large, path: /big?n=101, timeout: 2s, optional: true }`),
  policy('headers', `
  calls:
    - { name: echo, path: /echo, timeout: 2s, headers: [authorization, x-api-key] }`),
  policy('loop', `
  calls:
    - { name: self, path: /agg/headers, timeout: 2s }`),
  policy('noroute', `
  calls:
    - { name: elsewhere, path: /x, host: nowhere.example, timeout: 2s }`),
];
const agg = (path: string, name: string) => `
    - matches: [{ path: { type: PathPrefix, value: ${path} } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: AggregationPolicy, name: ${name} } }]`;
const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  hostnames: [api.example]
  rules:
    - backendRefs: [{ name: api, port: 8080 }]${['dash', 'slow', 'timeout', 'fail', 'notjson', 'optnotjson', 'big', 'headers', 'loop', 'noroute'].map((n) => agg(`/agg/${n}`, n)).join('')}
`;

describe('AggregationPolicy translation', () => {
  const t = new Translator(modelOf([PLAINTEXT_MESH, GATEWAY, ...POLICIES, service('api', [1]), ROUTE].join('---\n')), new Registry());
  const edge = nodeOf({ id: 'gw-1', role: 'gateway', gateway: 'default/edge' });

  it('puts the filter on the gateway listener and the Aggregation on the rule\'s route, with a direct response behind it', () => {
    expect(filterNames(t, edge, 'gateway.web')).toEqual(['weft.filters.http.aggregation', 'envoy.filters.http.router']);
    const rc = message<RouteConfiguration>(t, edge, TYPE_URL.route, 'gateway.web');
    const routes = rc.virtualHosts.flatMap((v) => v.routes);
    const dash = routes.find((r) => r.match?.pathSpecifier.value === '/agg/dash' || JSON.stringify(r.match).includes('/agg/dash'))!;
    expect(dash.action.case).toBe('directResponse');
    const a = anyUnpack(dash.typedPerFilterConfig[EXTENSIONS.aggregation.name]!, AggregationSchema)!;
    expect(a.pathTemplate).toBe('/agg/dash/{id}');
    expect(a.maxCallBodyBytes).toBe(1 << 20);
    expect(a.calls.map((c) => [c.name, c.method, c.path, c.host, c.headers, Number(c.timeout?.seconds), c.optional, c.dependsOn])).toEqual([
      ['user', 'GET', '/users/{path.id}', '', ['authorization', 'x-weft-consumer'], 2, false, []],
      ['orders', 'GET', '/orders?user={calls.user.body.id}&lang={query.lang}', '', ['authorization', 'x-weft-consumer'], 2, false, ['user']],
      ['reviews', 'GET', '/reviews/{path.id}', '', ['authorization', 'x-weft-consumer'], 2, true, []],
    ]);
    // The forwarding rule has no aggregation.
    expect(routes.filter((r) => EXTENSIONS.aggregation.name in r.typedPerFilterConfig)).toHaveLength(10);
  });

  it('leaves listeners without an aggregating route alone', () => {
    const plain = new Translator(modelOf([PLAINTEXT_MESH, GATEWAY, service('api', [1]), ROUTE.split('\n').slice(0, 8).join('\n')].join('---\n')), new Registry());
    expect(filterNames(plain, edge, 'gateway.web')).toEqual(['envoy.filters.http.router']);
  });
});

describe('AggregationPolicy at the gateway, in process', () => {
  let api: Upstream;
  let gw: InProcessGateway;
  /** What the upstream did, in order: `start /path` and `end /path`. */
  const events: string[] = [];
  const later = (ms: number, fn: () => void) => setTimeout(fn, ms);

  beforeAll(async () => {
    api = await upstream((q, s) => {
      const url = q.url ?? '';
      const path = url.split('?')[0]!;
      events.push(`start ${path}`);
      const json = (body: unknown, ms = 0) =>
        later(ms, () => {
          events.push(`end ${path}`);
          s.setHeader('content-type', 'application/json');
          s.end(JSON.stringify(body));
        });
      if (path.startsWith('/users/')) return json({ id: `u-${path.slice(7)}`, name: 'Ann' }, 80);
      if (path === '/orders') return json([{ order: 1, query: url.split('?')[1] }]);
      if (path.startsWith('/reviews/')) return json({ id: 'r-1', stars: 5 }, 80);
      if (path.startsWith('/ratings/')) return json({ of: path.slice(9) });
      if (path === '/slow') return json({ id: 'late' }, 3000);
      if (path === '/fail') return later(0, () => s.writeHead(500).end('boom'));
      if (path === '/text') return s.end('hello, not JSON');
      if (path === '/empty') return s.writeHead(204).end();
      if (path === '/big') return json('x'.repeat(Number(url.split('n=')[1]) - 2));
      if (path === '/echo') return json({ authorization: q.headers.authorization ?? null, key: q.headers['x-api-key'] ?? null, cookie: q.headers.cookie ?? null, rid: q.headers['x-request-id'] ?? null });
      s.writeHead(404).end();
    });
    gw = await inProcessGateway([PLAINTEXT_MESH, GATEWAY, ...POLICIES, service('api', [api.port]), ROUTE], 'default/edge');
  });
  afterAll(async () => {
    await gw?.close();
    await api?.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) => send(gw.port(), path, { host: 'api.example', headers });

  it('runs independent calls in parallel and a dependent call after its dependency, with its JSON in the path', async () => {
    events.length = 0;
    const r = await get('/agg/dash/7?lang=en%20gb');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['x-weft-partial']).toBeUndefined();
    expect(JSON.parse(r.body)).toEqual({ user: { id: 'u-7', name: 'Ann' }, orders: [{ order: 1, query: 'user=u-7&lang=en%20gb' }], reviews: { id: 'r-1', stars: 5 } });
    // Parallel: both 80 ms calls started before either ended. Sequenced: orders after user ended.
    expect(events.indexOf('start /reviews/7')).toBeLessThan(events.indexOf('end /users/7'));
    expect(events.indexOf('start /users/7')).toBeLessThan(events.indexOf('end /reviews/7'));
    expect(events.indexOf('start /orders')).toBeGreaterThan(events.indexOf('end /users/7'));
    expect(Object.keys(JSON.parse(r.body))).toEqual(['user', 'orders', 'reviews']);
  });

  it('answers 404 for a path outside the template and 502 when a required call lacks its query parameter', async () => {
    const r = await get('/agg/dash/7/extra');
    expect([r.status, r.headers['x-weft-error']]).toEqual([404, 'NO_ROUTE']);
    const q = await get('/agg/dash/7');
    expect([q.status, q.headers['x-weft-error']]).toEqual([502, 'AGGREGATION_FAILED']);
    expect(q.body).toContain("call 'orders' needs query parameter 'lang'");
  });

  it('answers within an optional call\'s timeout, its key null, its dependents skipped, marked partial', async () => {
    const r = await get('/agg/slow');
    expect(r.status).toBe(200);
    expect(r.headers['x-weft-partial']).toBe('reviews,ratings');
    expect(JSON.parse(r.body)).toEqual({ user: { id: 'u-1', name: 'Ann' }, reviews: null, ratings: null });
    // Within the slow call's 150 ms (and the 80 ms user call), nowhere near its 3 s.
    expect(r.ms).toBeLessThan(1000);
  });

  it('answers 504 AGGREGATION_FAILED naming a required call that timed out, and 502 for one that failed', async () => {
    const t = await get('/agg/timeout');
    expect([t.status, t.headers['x-weft-error']]).toEqual([504, 'AGGREGATION_FAILED']);
    expect(t.body).toBe("AGGREGATION_FAILED: call 'reviews' timed out after 150ms\n");
    expect(t.ms).toBeLessThan(1000);
    const f = await get('/agg/fail');
    expect([f.status, f.headers['x-weft-error']]).toEqual([502, 'AGGREGATION_FAILED']);
    expect(f.body).toBe("AGGREGATION_FAILED: call 'broken' answered 500\n");
  });

  it('fails a call whose body is not JSON; an empty body is null', async () => {
    const r = await get('/agg/notjson');
    expect([r.status, r.body]).toEqual([502, "AGGREGATION_FAILED: call 'text' answered a body that is not JSON\n"]);
    const o = await get('/agg/optnotjson');
    expect([o.status, o.headers['x-weft-partial'], JSON.parse(o.body)]).toEqual([200, 'text', { text: null, empty: null }]);
  });

  it('takes a body up to maxCallBodyBytes and fails a call past it', async () => {
    const r = await get('/agg/big');
    expect([r.status, r.headers['x-weft-partial']]).toEqual([200, 'large']);
    expect(JSON.parse(r.body)).toEqual({ small: 'x'.repeat(88), large: null });
  });

  it('passes the headers the call names (and the request id), nothing else', async () => {
    const r = await get('/agg/headers', { authorization: 'Bearer t', 'x-api-key': 'k1', cookie: 'session=1', 'x-request-id': 'req-42' });
    expect(JSON.parse(r.body)).toEqual({ echo: { authorization: 'Bearer t', key: 'k1', cookie: null, rid: 'req-42' } });
  });

  it('refuses a call routed back to an aggregating route, and fails a call no route matches', async () => {
    const r = await get('/agg/loop');
    expect([r.status, r.body]).toEqual([502, "AGGREGATION_FAILED: call 'self' answered 502 (AGGREGATION_FAILED)\n"]);
    const n = await get('/agg/noroute');
    expect([n.status, n.body]).toEqual([502, "AGGREGATION_FAILED: call 'elsewhere' answered 404 (NO_ROUTE)\n"]);
  });
});
