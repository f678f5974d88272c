// Translation: config model + registry -> per-node Envoy resources.
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { TYPE_URL } from '../../../common/xds-types.js';
import { type MeshModel } from '../../../control-plane/config/types.js';
import { message, modelOf, nodeOf } from '../../harness/mesh.js';
import { Registry } from '../../../control-plane/registry/registry.js';
import { Translator } from '../../../control-plane/translate/index.js';
import type { NodeInfo } from '../../../control-plane/xds/node.js';
import { xdsTypeRegistry } from '../../../control-plane/xds/type-registry.js';
import { Cluster_LbPolicy, type Cluster } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { isHttp2 } from '../../../sidecar/upstream/cluster.js';
import type { ClusterLoadAssignment } from '../../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import type { Listener } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import type { RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { HttpConnectionManagerSchema } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';

const model = modelOf;
const node = nodeOf;

const MESH = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080 }]
  endpoints:
    - { address: 10.0.0.1, port: 9001, labels: { version: v1 }, zone: z1 }
    - { address: 10.0.0.2, port: 9002, labels: { version: v2 }, zone: z2, weight: 3 }
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: greeter }
spec:
  ports: [{ name: grpc, port: 50051, protocol: grpc }]
---
apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: orders }
spec:
  targetRef: { name: orders }
  loadBalancer: { type: LeastRequest, localityAware: true }
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
  connectionPool: { maxConnections: 7, maxPendingRequests: 8 }
  outlierDetection: { consecutive5xx: 3 }
  healthCheck: { path: /healthz }
  retry: { attempts: 3, retryOn: [5xx], budget: { percent: 20 } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders }
spec:
  parentRefs: [{ name: orders }]
  rules:
    - matches: [{ path: { type: Exact, value: /health } }]
      backendRefs: [{ name: orders }]
    - matches: [{ path: { type: PathPrefix, value: /api }, method: POST, headers: [{ name: x-canary, value: "yes" }] }]
      filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-via, value: weft }] } }]
      backendRefs: [{ name: orders, subset: v1, weight: 90 }, { name: orders, subset: v2, weight: 10 }]
      timeouts: { request: 3s }
    - matches: [{ path: { type: PathPrefix, value: /old } }]
      filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /new }, statusCode: 301 } }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: greeter }
spec:
  parentRefs: [{ name: greeter }]
  rules:
    - matches: [{ method: { service: helloworld.Greeter, method: SayHello } }]
      backendRefs: [{ name: greeter }]
`;

const get = message;

describe('Translator', () => {
  const reg = new Registry();
  const m = model(MESH);
  const t = new Translator(m, reg);

  it('names clusters Istio-style, one per port and subset, and every snapshot is consistent', () => {
    const names = [...t.snapshotFor(node()).get(TYPE_URL.cluster).keys()].sort();
    expect(names).toEqual(['outbound|50051||greeter.default', 'outbound|8080||orders.default', 'outbound|8080|v1|orders.default', 'outbound|8080|v2|orders.default'].sort());
    for (const n of [node(), node({ role: 'sidecar', service: 'orders', appPort: 9001, zone: 'z1' }), node({ role: 'gateway' })]) {
      expect(t.snapshotFor(n).inconsistencies()).toEqual([]);
    }
  });

  it('maps TrafficPolicy to lb policy, breakers, retry budget, outlier detection and health checks', () => {
    const c = get<Cluster>(t, node({ role: 'sidecar', service: 'orders', appPort: 9001 }), TYPE_URL.cluster, 'outbound|8080||orders.default');
    expect(c.lbPolicy).toBe(Cluster_LbPolicy.LEAST_REQUEST);
    expect(c.circuitBreakers?.thresholds[0]).toMatchObject({ maxConnections: 7, maxPendingRequests: 8, retryBudget: { budgetPercent: { value: 20 } } });
    expect(c.outlierDetection?.consecutive5xx).toBe(3);
    expect(c.healthChecks[0]?.healthChecker.case).toBe('httpHealthCheck');
    expect(c.edsClusterConfig?.serviceName).toBe('outbound|8080||orders.default');
  });

  it('keeps proxyless gRPC clients to ROUND_ROBIN / RING_HASH and weights every locality', () => {
    const c = get<Cluster>(t, node(), TYPE_URL.cluster, 'outbound|8080||orders.default');
    expect(c.lbPolicy).toBe(Cluster_LbPolicy.ROUND_ROBIN);
    const cla = get<ClusterLoadAssignment>(t, node(), TYPE_URL.endpoint, 'outbound|8080||orders.default');
    expect(cla.endpoints.map((l) => [l.locality?.zone, l.loadBalancingWeight])).toEqual([['z1', 1], ['z2', 3]]);
  });

  it('filters subset endpoints by labels', () => {
    const v2 = get<ClusterLoadAssignment>(t, node(), TYPE_URL.endpoint, 'outbound|8080|v2|orders.default');
    expect(v2.endpoints.flatMap((l) => l.lbEndpoints.map((e) => (e.hostIdentifier.value as { address: { address: { value: { address: string } } } }).address.address.value.address))).toEqual(['10.0.0.2']);
  });

  it('gives the caller zone priority 0 when locality-aware, memoized per zone', () => {
    const z1 = node({ id: 'a', zone: 'z1' });
    const z2 = node({ id: 'b', zone: 'z2' });
    const cla1 = get<ClusterLoadAssignment>(t, z1, TYPE_URL.endpoint, 'outbound|8080||orders.default');
    expect(cla1.endpoints.map((l) => [l.locality?.zone, l.priority])).toEqual([['z1', 0], ['z2', 1]]);
    const cla2 = get<ClusterLoadAssignment>(t, z2, TYPE_URL.endpoint, 'outbound|8080||orders.default');
    expect(cla2.endpoints.map((l) => [l.locality?.zone, l.priority])).toEqual([['z1', 1], ['z2', 0]]);
    expect(t.snapshotFor(node({ id: 'c', zone: 'z1' }))).toBe(t.snapshotFor(z1));
    expect(t.snapshotFor(z2)).not.toBe(t.snapshotFor(z1));
  });

  it('keeps priorities gap-free when the caller zone has no endpoints', () => {
    const cla = get<ClusterLoadAssignment>(t, node({ id: 'far', zone: 'z9' }), TYPE_URL.endpoint, 'outbound|8080||orders.default');
    expect(cla.endpoints.map((l) => l.priority)).toEqual([0, 0]);
  });

  it('orders routes by Gateway API precedence and maps matches, filters, splits, redirects', () => {
    const rc = get<RouteConfiguration>(t, node({ role: 'sidecar', service: 'greeter', appPort: 1 }), TYPE_URL.route, 'outbound');
    const vh = rc.virtualHosts.find((v) => v.name === 'orders.default:8080')!;
    expect(vh.domains).toEqual(['orders', 'orders:8080', 'orders.default', 'orders.default:8080', 'orders.default.svc', 'orders.default.svc:8080']);
    expect(vh.routes.map((r) => r.name)).toEqual(['default/orders/rule-0', 'default/orders/rule-1', 'default/orders/rule-2', 'default']);
    const [exact, api, old, dflt] = vh.routes;
    expect(exact!.match?.pathSpecifier).toEqual({ case: 'path', value: '/health' });
    expect(api!.match?.headers.map((h) => h.name).sort()).toEqual([':method', 'x-canary']);
    const act = api!.action.value as { clusterSpecifier: { case: string; value: { clusters: Array<{ name: string; weight: number }> } }; timeout: { seconds: bigint }; retryPolicy: { numRetries: number; retryOn: string } };
    expect(act.clusterSpecifier.value.clusters.map((c) => [c.name, c.weight])).toEqual([['outbound|8080|v1|orders.default', 90], ['outbound|8080|v2|orders.default', 10]]);
    expect(act.timeout.seconds).toBe(3n);
    expect(act.retryPolicy).toMatchObject({ numRetries: 2, retryOn: '5xx' });
    expect(api!.requestHeadersToAdd[0]?.header).toMatchObject({ key: 'x-via', value: 'weft' });
    expect(old!.action.case).toBe('redirect');
    expect(dflt!.match?.pathSpecifier).toEqual({ case: 'prefix', value: '/' });
  });

  it('uses path_separated_prefix for sidecars and an equivalent safe_regex for gRPC clients (which reject the former)', () => {
    const api = (n: NodeInfo) => get<RouteConfiguration>(t, n, TYPE_URL.route, 'outbound').virtualHosts.find((v) => v.name === 'orders.default:8080')!.routes[1]!.match?.pathSpecifier;
    expect(api(node({ role: 'sidecar', service: 'greeter', appPort: 1 }))).toEqual({ case: 'pathSeparatedPrefix', value: '/api' });
    const re = api(node()) as { case: string; value: { regex: string } };
    expect(re.case).toBe('safeRegex');
    expect(['/api', '/api/x'].every((p) => new RegExp(re.value.regex).test(p))).toBe(true);
    expect(new RegExp(re.value.regex).test('/apix')).toBe(false);
  });

  it('leaves redirect routes out for gRPC clients, which reject them', () => {
    const names = (n: NodeInfo) => get<RouteConfiguration>(t, n, TYPE_URL.route, 'outbound').virtualHosts.find((v) => v.name === 'orders.default:8080')!.routes.map((r) => r.name);
    expect(names(node({ role: 'sidecar', service: 'greeter', appPort: 1 }))).toContain('default/orders/rule-2');
    expect(names(node())).not.toContain('default/orders/rule-2');
  });

  it('maps GRPCRoute methods to exact paths and disables the route timeout for gRPC', () => {
    const rc = get<RouteConfiguration>(t, node(), TYPE_URL.route, 'outbound');
    const vh = rc.virtualHosts.find((v) => v.name === 'greeter.default:50051')!;
    expect(vh.routes[0]!.match?.pathSpecifier).toEqual({ case: 'path', value: '/helloworld.Greeter/SayHello' });
    expect((vh.routes[0]!.action.value as { timeout: { seconds: bigint } }).timeout.seconds).toBe(0n);
  });

  it('gives proxyless clients an API listener per host form, with RDS and the router last', () => {
    const l = get<Listener>(t, node(), TYPE_URL.listener, 'greeter');
    const hcm = anyUnpack(l.apiListener!.apiListener!, HttpConnectionManagerSchema)!;
    expect(hcm.routeSpecifier).toMatchObject({ case: 'rds', value: { routeConfigName: 'outbound' } });
    expect(hcm.httpFilters.at(-1)?.name).toBe('envoy.filters.http.router');
    expect([...t.snapshotFor(node()).get(TYPE_URL.listener).keys()]).toContain('greeter.default:50051');
  });

  it('gives sidecars outbound and inbound listeners and a local app cluster', () => {
    const n = node({ role: 'sidecar', service: 'greeter', appPort: 7000, appProtocol: 'grpc' });
    expect([...t.snapshotFor(n).get(TYPE_URL.listener).keys()].sort()).toEqual(['inbound', 'outbound']);
    const c = get<Cluster>(t, n, TYPE_URL.cluster, 'inbound|7000|greeter.default');
    expect(c.loadAssignment?.endpoints[0]?.lbEndpoints).toHaveLength(1);
  });

  it('speaks h2c to the app of a gRPC Service when the sidecar names no protocol (--app-protocol auto), and what the sidecar names when it does', () => {
    const inbound = (o: Partial<NodeInfo>) => isHttp2(get<Cluster>(t, node({ role: 'sidecar', appPort: 7000, ...o }), TYPE_URL.cluster, `inbound|7000|${o.service}.default`));
    // greeter's only port is grpc, orders' are http.
    expect([inbound({ service: 'greeter' }), inbound({ service: 'orders' })]).toEqual([true, false]);
    expect([inbound({ service: 'greeter', appProtocol: 'http' }), inbound({ service: 'orders', appProtocol: 'grpc' }), inbound({ service: 'orders', appProtocol: 'http2' })]).toEqual([false, true, true]);
    // No Service at all: HTTP/1.1.
    expect(inbound({ service: 'nosuch' })).toBe(false);
  });

  it('adds registered instances as endpoints', () => {
    const r = new Registry();
    r.streamOpened(node({ id: 'g1', role: 'sidecar', service: 'greeter', instanceIp: '127.0.0.9', instancePort: 15006, labels: { version: 'v3' }, peerId: 'spiffe://cluster.local/ns/default/sa/greeter' }));
    const cla = get<ClusterLoadAssignment>(new Translator(m, r), node(), TYPE_URL.endpoint, 'outbound|50051||greeter.default');
    expect(cla.endpoints[0]?.lbEndpoints).toHaveLength(1);
  });

  it('memoizes: nodes of one class share a Snapshot; resources survive a binary round trip', () => {
    expect(t.snapshotFor(node({ id: 'x' }))).toBe(t.snapshotFor(node({ id: 'y' })));
    for (const set of t.snapshotFor(node()).resources.values()) {
      for (const r of set.values()) expect(toBinary(r.schema, fromBinary(r.schema, r.body))).toEqual(r.body);
    }
    expect(xdsTypeRegistry.getMessage('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager')).toBeDefined();
  });

  it("gives each route hostname its own virtual host, so the route never captures the service's other names", () => {
    const m2 = model(`${MESH}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: www }
spec:
  parentRefs: [{ name: orders }]
  hostnames: [www.shop.example]
  rules:
    - filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, statusCode: 301 } }]
`);
    const rc = get<RouteConfiguration>(new Translator(m2, new Registry()), node({ role: 'sidecar', service: 'greeter', appPort: 1 }), TYPE_URL.route, 'outbound');
    const own = rc.virtualHosts.find((v) => v.name === 'orders.default:8080')!;
    const www = rc.virtualHosts.find((v) => v.name === 'www.shop.example:8080')!;
    expect(own.routes.map((r) => r.name)).not.toContain('default/www/rule-0');
    expect(www.domains).toEqual(['www.shop.example', 'www.shop.example:8080']);
    // The hostname's own rules first (Gateway API precedence); routes without hostnames apply to it too; then the default.
    expect(www.routes.map((r) => r.name)).toEqual(['default/www/rule-0', 'default/orders/rule-0', 'default/orders/rule-1', 'default/orders/rule-2', 'default']);
  });

  it('gives sidecar listeners path normalization and the allowed Upgrades from MeshConfig', () => {
    const n = node({ role: 'sidecar', service: 'greeter', appPort: 7000, appProtocol: 'grpc' });
    for (const name of ['inbound', 'outbound']) {
      const l = get<Listener>(t, n, TYPE_URL.listener, name);
      const hcm = anyUnpack(l.filterChains[0]!.filters[0]!.configType.value as never, HttpConnectionManagerSchema)!;
      expect({ normalize: hcm.normalizePath, merge: hcm.mergeSlashes, slashes: hcm.pathWithEscapedSlashesAction, upgrades: hcm.upgradeConfigs.map((u) => u.upgradeType) })
        .toEqual({ normalize: true, merge: true, slashes: 2 /* REJECT_REQUEST */, upgrades: ['websocket'] });
    }
  });
});

// gRPC C-core <= 1.51 (Debian 12's python3-grpcio) NACKs the whole `outbound` RouteConfiguration
// for a header matcher in `string_match` form and for weights that do not sum to total_weight
// (default 100); test/e2e/proxyless-ccore.test.ts runs both clients against these forms.
describe('Translator: route forms every gRPC xDS client ACKs', () => {
  const m = model(`apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: greeter }
spec:
  ports: [{ name: grpc, port: 50051, protocol: grpc }]
  endpoints: [{ address: 10.0.0.1, port: 9001, labels: { version: a } }, { address: 10.0.0.2, port: 9002, labels: { version: b } }]
---
apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: greeter }
spec:
  targetRef: { name: greeter }
  subsets: [{ name: a, labels: { version: a } }, { name: b, labels: { version: b } }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: greeter }
spec:
  parentRefs: [{ name: greeter }]
  rules:
    - matches: [{ headers: [{ name: x-canary, value: "yes" }, { name: x-user, type: RegularExpression, value: "beta-[0-9]+|gamma" }] }]
      backendRefs: [{ name: greeter, subset: b }]
    - backendRefs: [{ name: greeter, subset: a, weight: 3 }, { name: greeter, subset: b, weight: 1 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders }
spec:
  parentRefs: [{ name: orders }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /q }, queryParams: [{ name: v, value: "2" }] }]
      backendRefs: [{ name: orders }]
    - matches: [{ path: { type: RegularExpression, value: "/a|/b" }, method: POST }]
      backendRefs: [{ name: orders }]
`);
  const t = new Translator(m, new Registry());
  const sidecar = node({ role: 'sidecar', service: 'orders', appPort: 1 });
  const routes = (n: NodeInfo, vhost: string) => get<RouteConfiguration>(t, n, TYPE_URL.route, 'outbound').virtualHosts.find((v) => v.name === vhost)!.routes;
  const greeter = (n: NodeInfo) => routes(n, 'greeter.default:50051');
  type Weighted = { clusterSpecifier: { case: string; value: { clusters: Array<{ name: string; weight: number }>; totalWeight?: number } } };

  it('sends proxyless nodes header matches as exact_match / safe_regex_match, sidecars string_match', () => {
    expect(greeter(node())[0]!.match?.headers.map((h) => h.headerMatchSpecifier)).toEqual([
      { case: 'exactMatch', value: 'yes' },
      { case: 'safeRegexMatch', value: expect.objectContaining({ regex: '(?:beta-[0-9]+|gamma)' }) },
    ]);
    expect(greeter(sidecar)[0]!.match?.headers.map((h) => h.headerMatchSpecifier.case)).toEqual(['stringMatch', 'stringMatch']);
    const method = routes(node(), 'orders.default:8080').find((r) => r.name === 'default/orders/rule-1')!.match?.headers;
    expect(method?.map((h) => [h.name, h.headerMatchSpecifier])).toEqual([[':method', { case: 'exactMatch', value: 'POST' }]]);
  });

  it('groups proxyless regexes, so a full match anchored as ^re$ (grpc-js-xds) keeps an alternation whole', () => {
    const hv = greeter(node())[0]!.match!.headers[1]!.headerMatchSpecifier.value as { regex: string };
    const full = new RegExp(`^${hv.regex}$`);
    expect(['beta-7', 'gamma'].map((v) => full.test(v))).toEqual([true, true]);
    expect(['beta-7x', 'xgamma'].map((v) => full.test(v))).toEqual([false, false]);
    const path = routes(node(), 'orders.default:8080').find((r) => r.name === 'default/orders/rule-1')!.match?.pathSpecifier.value as { regex: string };
    expect(['/a', '/b', '/ax', '/xb'].map((p) => new RegExp(`^${path.regex}$`).test(p))).toEqual([true, true, false, false]);
  });

  it('sets total_weight to the sum of the weights for proxyless nodes (C-core 1.51 takes 100 otherwise)', () => {
    const split = greeter(node())[1]!.action.value as Weighted;
    expect(split.clusterSpecifier.value.clusters.map((c) => c.weight)).toEqual([3, 1]);
    expect(split.clusterSpecifier.value.totalWeight).toBe(4);
    expect((greeter(sidecar)[1]!.action.value as Weighted).clusterSpecifier.value.totalWeight).toBeUndefined();
  });

  it('leaves routes that match on query parameters out for proxyless nodes (gRPC has no query string)', () => {
    expect(routes(node(), 'orders.default:8080').map((r) => r.name)).toEqual(['default/orders/rule-1', 'default']);
    expect(routes(sidecar, 'orders.default:8080').map((r) => r.name)).toContain('default/orders/rule-0');
    expect(t.snapshotFor(node()).inconsistencies()).toEqual([]);
  });
});

describe('Translator: GRPCRoute method regexes', () => {
  it('groups a service or method regex, so an alternation stays inside its path element', () => {
    const m = model(`apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: greeter }
spec:
  ports: [{ name: grpc, port: 50051, protocol: grpc }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: greeter }
spec:
  parentRefs: [{ name: greeter }]
  rules:
    - matches: [{ method: { type: RegularExpression, service: "a\\\\.X|b\\\\.Y", method: "Get|List" } }]
      backendRefs: [{ name: greeter }]
`);
    const t = new Translator(m, new Registry());
    for (const n of [node(), node({ role: 'sidecar', service: 'greeter', appPort: 1 })]) {
      const vh = get<RouteConfiguration>(t, n, TYPE_URL.route, 'outbound').virtualHosts.find((v) => v.name === 'greeter.default:50051')!;
      const re = new RegExp((vh.routes[0]!.match?.pathSpecifier.value as { regex: string }).regex);
      expect(['/a.X/Get', '/b.Y/List'].map((p) => re.test(p))).toEqual([true, true]);
      expect(['/a.X.Z/Get', '/b.Y/Get/x', '/c/a.X/Get'].map((p) => re.test(p))).toEqual([false, false, false]);
    }
  });
});
