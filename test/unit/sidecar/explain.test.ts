// `weft explain`'s engine: the route table's explanation agrees with its matching for any table and
// request (a property test over generated tables), and a hop of a real mesh's config (translated,
// then decoded as a sidecar decodes it) names the route, the split, the filters' decisions
// (authorization, JWT, rate limit), the retries and timeouts and the peer identity expected.
import { create } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RouteConfigurationSchema } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { RouteTable } from '../../../sidecar/routing/route-table.js';
import { ExplainInputError, explainListener, explainRequestOf, type ExplainRequest } from '../../../sidecar/explain/explain.js';
import { routePerFilter } from '../../../sidecar/http/filters/index.js';
import { translateFor } from '../../harness/sidecar.js';

const SEGMENTS = ['/', '/a', '/a/', '/a/b', '/A', '/api', '/api/v1', '/apis', '/items/7', '/x.y'];
const VALUES = ['1', '2', 'yes', 'YES', 'v1', '', '10'];
const NAMES = ['x-a', 'x-b', ':method'];

const stringMatch = fc.record({
  kind: fc.constantFrom('exact', 'prefix', 'suffix', 'contains'),
  value: fc.constantFrom(...VALUES),
  ignoreCase: fc.boolean(),
});
const headerMatcher = fc.oneof(
  fc.record({ name: fc.constantFrom(...NAMES), invertMatch: fc.boolean(), headerMatchSpecifier: fc.record({ case: fc.constant('presentMatch' as const), value: fc.boolean() }) }),
  fc.record({ name: fc.constantFrom(...NAMES), invertMatch: fc.boolean(), treatMissingHeaderAsEmpty: fc.boolean(), headerMatchSpecifier: stringMatch.map((m) => ({ case: 'stringMatch' as const, value: { matchPattern: { case: m.kind, value: m.value }, ignoreCase: m.ignoreCase } })) }),
  fc.record({ name: fc.constantFrom(...NAMES), invertMatch: fc.boolean(), headerMatchSpecifier: fc.record({ case: fc.constant('rangeMatch' as const), value: fc.record({ start: fc.bigInt(0n, 5n), end: fc.bigInt(1n, 20n) }) }) }),
);
const queryMatcher = fc.record({
  name: fc.constantFrom('v', 'w'),
  queryParameterMatchSpecifier: fc.oneof(fc.record({ case: fc.constant('presentMatch' as const), value: fc.boolean() }), stringMatch.map((m) => ({ case: 'stringMatch' as const, value: { matchPattern: { case: m.kind, value: m.value }, ignoreCase: m.ignoreCase } }))),
});
const path = fc.oneof(
  fc.record({ case: fc.constantFrom('prefix' as const, 'path' as const, 'pathSeparatedPrefix' as const), value: fc.constantFrom(...SEGMENTS) }),
  fc.record({ case: fc.constant('safeRegex' as const), value: fc.constantFrom('/items/[0-9]+', '/a.*', '/[a-z]+').map((regex) => ({ regex })) }),
);
const route = fc.record({ name: fc.string({ maxLength: 4 }), match: fc.record({ pathSpecifier: path, caseSensitive: fc.option(fc.boolean(), { nil: undefined }), headers: fc.array(headerMatcher, { maxLength: 2 }), queryParameters: fc.array(queryMatcher, { maxLength: 1 }) }) });
const vhost = fc.record({ name: fc.string({ maxLength: 3 }), domains: fc.uniqueArray(fc.constantFrom('orders', 'orders:8080', '*.example.com', 'pay.*', '*'), { minLength: 1, maxLength: 2 }), routes: fc.array(route, { maxLength: 5 }) });
const request = fc.record({
  host: fc.constantFrom('orders', 'orders:8080', 'orders:9', 'a.example.com', 'pay.x', 'other'),
  path: fc.constantFrom(...SEGMENTS),
  headers: fc.dictionary(fc.constantFrom('x-a', 'x-b'), fc.constantFrom(...VALUES), { maxKeys: 2 }),
  method: fc.constantFrom('GET', 'POST', 'yes'),
  search: fc.constantFrom('', '?v=1', '?v=yes&w=', '?w=2', '?v'),
});

describe('RouteTable.explain', () => {
  it('agrees with match for generated tables and requests: same route, a reason for each route before it, none for it', () => {
    fc.assert(
      fc.property(fc.array(vhost, { maxLength: 3 }), fc.array(request, { minLength: 1, maxLength: 10 }), (vhosts, reqs) => {
        let table: RouteTable;
        try {
          table = new RouteTable(create(RouteConfigurationSchema, { name: 'rc', virtualHosts: vhosts.map((v) => ({ ...v, routes: v.routes.map((r) => ({ ...r, action: { case: 'directResponse' as const, value: { status: 200 } } })) })) }));
        } catch {
          return; // a regex the generator cannot make invalid; nothing else throws
        }
        for (const q of reqs) {
          const src = { header: (n: string) => (n === ':method' ? q.method : q.headers[n]) };
          const want = table.match(q.host, q.path, q.search, src);
          const got = table.explain(q.host, q.path, q.search, src);
          expect(got.route).toBe(want);
          const i = got.routes.findIndex((r) => r.matched);
          expect(i >= 0).toBe(want !== undefined);
          for (const [j, r] of got.routes.entries()) {
            if (i < 0 || j < i) expect(r.why, `route ${j} before the match has a reason`).toBeTruthy();
            else if (j === i) expect(r.why).toBeUndefined();
            else expect(r.notTried).toBe(true);
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it('says why a virtual host and a route were not chosen', () => {
    const t = new RouteTable(
      create(RouteConfigurationSchema, {
        name: 'rc',
        virtualHosts: [
          { name: 'orders', domains: ['orders'], routes: [
            { name: 'canary', match: { pathSpecifier: { case: 'prefix', value: '/' }, headers: [{ name: 'x-canary', headerMatchSpecifier: { case: 'exactMatch', value: 'yes' } }] }, action: { case: 'directResponse', value: { status: 200 } } },
            { name: 'v1', match: { pathSpecifier: { case: 'prefix', value: '/v1' } }, action: { case: 'directResponse', value: { status: 200 } } },
            { name: 'rest', match: { pathSpecifier: { case: 'prefix', value: '/' } }, action: { case: 'directResponse', value: { status: 200 } } },
          ] },
          { name: 'pay', domains: ['payments'], routes: [] },
        ],
      }),
      routePerFilter,
    );
    const e = t.explain('orders:8080', '/v1/items', '', { header: (n) => ({ 'x-canary': 'no' })[n] });
    expect(e.virtualHost?.name).toBe('orders');
    expect(e.virtualHost?.why).toMatch(/port is ignored/);
    expect(e.otherVirtualHosts).toEqual([{ name: 'pay', domains: ['payments'], why: 'none of its domains is orders:8080' }]);
    expect(e.routes.map((r) => [r.name, r.matched, r.why ?? (r.notTried ? 'not tried' : '')])).toEqual([
      ['canary', false, 'header x-canary exact "yes" wanted, got "no"'],
      ['v1', true, ''],
      ['rest', false, 'not tried'],
    ]);
  });
});

const TD = 'cluster.local';
const MESH = [
  `apiVersion: weft.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec:\n  mtls: { mode: STRICT }\n`,
  `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: web }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n`,
  `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: orders }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n  endpoints: [{ address: 127.0.0.1, port: 9001, labels: { version: v1 } }, { address: 127.0.0.1, port: 9002, labels: { version: v2 } }]\n`,
  `apiVersion: weft.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: { name: orders }\nspec:\n  targetRef: { kind: Service, name: orders }\n  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]\n`,
  `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: orders }\nspec:\n  parentRefs: [{ kind: Service, name: orders }]\n  rules:\n    - matches: [{ path: { type: PathPrefix, value: /v1 }, headers: [{ name: x-canary, value: "yes" }] }]\n      backendRefs: [{ name: orders, subset: v2 }]\n    - matches: [{ path: { type: PathPrefix, value: /v1 } }]\n      filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-from-route, value: "1" }], remove: [x-drop] } }]\n      backendRefs: [{ name: orders, subset: v1, weight: 90 }, { name: orders, subset: v2, weight: 10 }]\n      timeouts: { request: 5s }\n      retry: { attempts: 3, retryOn: [5xx, reset] }\n`,
  `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ledger }\nspec:\n  ports: [{ name: grpc, port: 50051, protocol: grpc }]\n`,
  `apiVersion: weft.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: { name: ledger }\nspec:\n  targetRef: { kind: Service, name: ledger }\n  connectionPool: { keepalive: { interval: 30s, timeout: 5s } }\n`,
  `apiVersion: weft.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: { name: orders-readers }\nspec:\n  service: orders\n  action: ALLOW\n  rules:\n    - from: [{ principals: ["spiffe://${TD}/ns/default/sa/web"] }]\n      to: [{ methods: [GET] }]\n`,
];

const req = (o: Partial<ExplainRequest> = {}): ExplainRequest => ({ method: 'GET', authority: 'orders', path: '/v1/items', search: '', headers: {}, ...o });

describe('explainListener on a translated mesh', () => {
  const web = translateFor(MESH, { service: 'web', appPort: 1 });
  const orders = translateFor(MESH, { service: 'orders', appPort: 9001 });

  it('outbound: the route that matched, the ones before it with why, the split, retries, timeout and the identity expected of the peer', () => {
    const e = explainListener(web, 'outbound', req());
    expect(e.virtualHost?.name).toMatch(/orders/);
    const tried = e.routes.filter((r) => !r.notTried);
    expect(tried.at(-1)?.matched).toBe(true);
    expect(tried.slice(0, -1).every((r) => r.why)).toBe(true);
    expect(tried.some((r) => /x-canary/.test(r.why ?? ''))).toBe(true);
    expect(e.action?.kind).toBe('forward');
    if (e.action?.kind !== 'forward') return;
    expect(e.action.clusters.map((c) => [c.name, c.percent])).toEqual([['outbound|8080|v1|orders.default', 90], ['outbound|8080|v2|orders.default', 10]]);
    expect(e.action.timeoutMs).toBe(5000);
    expect(e.action.retry?.attempts).toBe(3);
    expect(e.action.retry?.on).toEqual(expect.arrayContaining(['5xx', 'reset']));
    const c = e.action.clusters[0]!;
    expect(c.lbPolicy).toBe('ROUND_ROBIN');
    expect(c.endpoints?.map((x) => x.address)).toEqual(['127.0.0.1:9001']);
    // Static endpoints have no sidecar: plaintext (the e2e test sees the identity of mesh endpoints).
    expect(c.endpoints?.[0]?.mtls).toBe(false);
    expect(e.outcome).toMatch(/v1\|orders\.default \(90%\).*v2\|orders\.default \(10%\)/);
  });

  it('outbound: a cluster with HTTP/2 keepalive PINGs shows them; one without does not', () => {
    const e = explainListener(web, 'outbound', req({ authority: 'ledger:50051', path: '/x.Ledger/Get', method: 'POST', headers: { 'content-type': 'application/grpc' } }));
    expect(e.action?.kind).toBe('forward');
    if (e.action?.kind !== 'forward') return;
    expect(e.action.clusters[0]?.h2Keepalive).toEqual({ intervalMs: 30_000, timeoutMs: 5000, jitterPercent: 15 });
    const o = explainListener(web, 'outbound', req());
    expect(o.action?.kind === 'forward' && o.action.clusters.every((c) => c.h2Keepalive === undefined)).toBe(true);
  });

  it('outbound: the headers sent upstream carry the route\'s changes (what the next hop sees)', () => {
    const e = explainListener(web, 'outbound', req({ headers: { 'x-drop': 'a', 'x-keep': 'b' } }));
    expect(e.action?.kind).toBe('forward');
    if (e.action?.kind !== 'forward') return;
    expect(e.action.upstreamHeaders).toMatchObject({ 'x-from-route': '1', 'x-keep': 'b', host: 'orders' });
    expect(e.action.upstreamHeaders['x-drop']).toBeUndefined();
  });

  it('request parsing: repeated headers are one list, Host names the authority, odd names are plain headers', () => {
    const r = explainRequestOf('get', 'http://orders/a?b=1', ['x-a: 1', 'X-A: 2', 'host: payments:8080', 'constructor: x']);
    expect(r).toMatchObject({ method: 'GET', authority: 'payments:8080', path: '/a', search: '?b=1' });
    expect({ ...r.headers }).toEqual({ 'x-a': '1, 2', constructor: 'x' });
    const e = explainListener(web, 'outbound', explainRequestOf('GET', 'http://orders/v1', ['toString: 1']));
    expect(e.outcome).toMatch(/orders/);
  });

  it('outbound: a header picks the canary route', () => {
    const e = explainListener(web, 'outbound', req({ headers: { 'x-canary': 'yes' } }));
    expect(e.action?.kind === 'forward' && e.action.clusters.map((c) => c.name)).toEqual(['outbound|8080|v2|orders.default']);
  });

  it('inbound: the authorization decision names the rule, for the caller and for a stranger', () => {
    const allowed = explainListener(orders, 'inbound', req({ principal: `spiffe://${TD}/ns/default/sa/web` }));
    const rbac = allowed.filters.find((f) => f.name.includes('rbac'));
    expect(rbac?.effect).toBe('allow');
    expect(rbac?.detail).toMatch(/allowed by default\/orders-readers\/rules\[0\]/);
    expect(allowed.refusedBy).toBeUndefined();
    const post = explainListener(orders, 'inbound', req({ method: 'POST', principal: `spiffe://${TD}/ns/default/sa/web` }));
    expect(post.filters.find((f) => f.name.includes('rbac'))?.effect).toBe('deny');
    expect(post.outcome).toMatch(/^403 RBAC_DENIED from .*rbac.*no ALLOW policy matched/);
    const stranger = explainListener(orders, 'inbound', req({ principal: `spiffe://${TD}/ns/default/sa/intruder` }));
    expect(stranger.refusedBy).toMatch(/rbac/);
  });

  it('no route: says which virtual host and why', () => {
    const e = explainListener(web, 'outbound', req({ authority: 'nowhere' }));
    expect(e.outcome).toMatch(/404 NO_ROUTE/);
    expect(e.route).toBe('');
  });

  it('a path the connection manager refuses stops before routing', () => {
    const e = explainListener(web, 'outbound', req({ path: 'no-slash' }));
    expect(e.stoppedBefore).toMatch(/400 BAD_REQUEST/);
  });

  it('any method, URL and headers: an explanation or a clear input error, never a crash (fuzz)', () => {
    const text = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('http://orders/v1/items', 'orders/%zz', 'http://[::1]:8080/a/../b', '//x', 'http://orders:99999/', 'http://orders/v1?x=%', 'http://ORDERS/V1/', 'http://orders/a//b/./c'));
    fc.assert(
      fc.property(fc.string({ maxLength: 8 }), text, fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 }), fc.constantFrom('outbound', 'inbound', 'nope'), (method, url, headers, listener) => {
        let r: ExplainRequest;
        try {
          r = explainRequestOf(method, url, headers);
        } catch (e) {
          expect(e).toBeInstanceOf(ExplainInputError);
          return;
        }
        const e = explainListener(listener === 'inbound' ? orders : web, listener, r);
        expect(typeof e.outcome).toBe('string');
        expect(JSON.parse(JSON.stringify(e)).outcome).toBe(e.outcome);
      }),
      { numRuns: 500 },
    );
  });
});
