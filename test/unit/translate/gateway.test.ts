// Gateway translation (issue 19 item 1): a gateway node serving a Gateway gets one Listener and
// one RouteConfiguration `gateway.<listener>` per Gateway listener (virtual hosts from the
// Gateway API hostname intersection, rules built like mesh outbound routes), the mesh's clusters,
// endpoints and trust bundle, and no outbound listener.
import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { NODE_META, TYPE_URL } from '../../../common/xds-types.js';
import { hcmOf, message, modelOf, nodeOf } from '../../harness/mesh.js';
import { Registry } from '../../../control-plane/registry/registry.js';
import { Translator } from '../../../control-plane/translate/index.js';
import { nodeInfoFromProto } from '../../../control-plane/xds/node.js';
import { NodeSchema } from '../../../proto/gen/envoy/config/core/v3/base_pb.js';
import type { Listener } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import type { RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import type { Route } from '../../../proto/gen/envoy/config/route/v3/route_components_pb.js';

const MESH = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080 }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: greeter, namespace: shop }
spec:
  ports: [{ name: grpc, port: 50051, protocol: grpc }]
---
apiVersion: weft.dev/v1alpha1
kind: FaultPolicy
metadata: { name: slow }
spec: { delay: { fixedDelay: 100ms, percentage: 10 } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - { name: web, port: 8000, protocol: HTTP }
    - { name: shop, port: 8001, protocol: HTTP, hostname: "*.shop.example", allowedRoutes: { namespaces: { from: All } } }
    - { name: api, port: 9000, protocol: HTTP, hostname: api.example }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: any-host }
spec:
  parentRefs: [{ kind: Gateway, name: edge, sectionName: web }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /orders } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: FaultPolicy, name: slow } }]
      backendRefs: [{ name: orders }]
      timeouts: { request: 3s }
      retry: { attempts: 3, retryOn: [5xx] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: www, namespace: shop }
spec:
  parentRefs: [{ kind: Gateway, name: edge, namespace: default }]
  hostnames: [www.shop.example, other.example]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /www } }]
      backendRefs: [{ name: orders, namespace: default }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: wild, namespace: shop }
spec:
  parentRefs: [{ kind: Gateway, name: edge, namespace: default, sectionName: shop }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /wild } }]
      backendRefs: [{ name: orders, namespace: default }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: greet, namespace: shop }
spec:
  parentRefs: [{ kind: Gateway, name: edge, namespace: default, sectionName: shop }]
  hostnames: ["*.example"]
  rules:
    - matches: [{ method: { service: helloworld.Greeter } }]
      backendRefs: [{ name: greeter }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: both }
spec:
  parentRefs: [{ kind: Gateway, name: edge, port: 9000 }, { name: orders }]
  rules:
    - matches: [{ path: { type: Exact, value: /both } }]
      backendRefs: [{ name: orders }]
`;

const m = modelOf(MESH);
const t = new Translator(m, new Registry(), { bundlePem: 'PEM' });
const gwNode = nodeOf({ id: 'gw-1', role: 'gateway', gateway: 'default/edge' });
const names = (type: string, n = gwNode) => [...t.snapshotFor(n).get(type as never).keys()].sort();
const rc = (name: string) => message<RouteConfiguration>(t, gwNode, TYPE_URL.route, name);
const vhosts = (name: string) => rc(name).virtualHosts.map((v) => [v.name, v.domains, v.routes.map((r) => r.name)]);
const action = (r: Route) => (r.action.case === 'route' ? r.action.value : undefined);

describe('gateway node metadata', () => {
  it('reads WEFT_GATEWAY as NodeInfo.gateway', () => {
    const n = nodeInfoFromProto(create(NodeSchema, { id: 'g', metadata: { [NODE_META.role]: 'gateway', [NODE_META.gateway]: 'default/edge' } }));
    expect([n.role, n.gateway]).toEqual(['gateway', 'default/edge']);
    expect(nodeInfoFromProto(create(NodeSchema, { id: 'g', metadata: { [NODE_META.role]: 'gateway', [NODE_META.gateway]: '' } })).gateway).toBeUndefined();
  });
});

describe('gateway translation', () => {
  it('serves one listener and one route configuration per Gateway listener, and no outbound listener', () => {
    expect(names(TYPE_URL.listener)).toEqual(['gateway.api', 'gateway.shop', 'gateway.web']);
    expect(names(TYPE_URL.route)).toEqual(['gateway.api', 'gateway.shop', 'gateway.web']);
    expect(t.snapshotFor(gwNode).inconsistencies()).toEqual([]);
  });

  it('gets the clusters, endpoints and trust bundle a sidecar gets', () => {
    const sidecar = nodeOf({ role: 'sidecar', service: 'orders', appPort: 9001 });
    const outbound = names(TYPE_URL.cluster, sidecar).filter((c) => c.startsWith('outbound|'));
    expect(names(TYPE_URL.cluster)).toEqual(outbound);
    expect(names(TYPE_URL.endpoint)).toEqual(names(TYPE_URL.endpoint, sidecar));
    expect(names(TYPE_URL.secret)).toEqual(['ROOTCA']);
  });

  it('binds 0.0.0.0:<port> with one plaintext chain whose HCM takes gateway.<listener> over RDS, with the mesh http settings', () => {
    for (const [name, port] of [['gateway.web', 8000], ['gateway.shop', 8001], ['gateway.api', 9000]] as const) {
      const l = message<Listener>(t, gwNode, TYPE_URL.listener, name);
      expect(l.address?.address.case === 'socketAddress' && [l.address.address.value.address, l.address.address.value.portSpecifier.value]).toEqual(['0.0.0.0', port]);
      expect(l.filterChains).toHaveLength(1);
      expect(l.filterChains[0]!.transportSocket).toBeUndefined();
      const hcm = hcmOf(l);
      expect(hcm.statPrefix).toBe(name);
      expect(hcm.routeSpecifier.case === 'rds' && hcm.routeSpecifier.value.routeConfigName).toBe(name);
      expect(hcm.normalizePath).toBe(m.mesh.http.normalizePath);
      expect(hcm.httpFilters.at(-1)?.name).toBe('envoy.filters.http.router');
    }
  });

  it('walks the http filters with the route config: fault only where a rule names a FaultPolicy', () => {
    expect(hcmOf(message<Listener>(t, gwNode, TYPE_URL.listener, 'gateway.web')).httpFilters.map((f) => f.name)).toEqual(['envoy.filters.http.fault', 'envoy.filters.http.router']);
    expect(hcmOf(message<Listener>(t, gwNode, TYPE_URL.listener, 'gateway.api')).httpFilters.map((f) => f.name)).toEqual(['envoy.filters.http.router']);
    expect(Object.keys(rc('gateway.web').virtualHosts[0]!.routes[0]!.typedPerFilterConfig)).toEqual(['envoy.filters.http.fault']);
  });

  it('makes one virtual host per intersected hostname, domains [host, host:port], * when neither names one', () => {
    // web (no hostname, Same): any-host (no hostnames: *); www is in namespace shop.
    expect(vhosts('gateway.web')).toEqual([['*:8000', ['*'], ['default/any-host/rule-0']]]);
    // shop (*.shop.example, All): www narrowed to www.shop.example (other.example dropped), wild
    // takes the listener's wildcard, greet's *.example narrowed to *.shop.example; the wildcard
    // rules also serve the precise host, after its own.
    expect(vhosts('gateway.shop')).toEqual([
      ['www.shop.example:8001', ['www.shop.example', 'www.shop.example:8001'], ['shop/www/rule-0', 'shop/wild/rule-0', 'shop/greet/rule-0']],
      // (equal host precedence: the path match decides, a PathPrefix /wild before the gRPC service prefix)
      ['*.shop.example:8001', ['*.shop.example', '*.shop.example:8001'], ['shop/wild/rule-0', 'shop/greet/rule-0']],
    ]);
    // api (api.example, port 9000): `both` by port takes the listener hostname.
    expect(vhosts('gateway.api')).toEqual([['api.example:9000', ['api.example', 'api.example:9000'], ['default/both/rule-0']]]);
  });

  it('translates rules like mesh routes: outbound clusters, timeouts, retries; gRPC rules without a default timeout', () => {
    const r = rc('gateway.web').virtualHosts[0]!.routes[0]!;
    expect(r.match?.pathSpecifier).toEqual({ case: 'pathSeparatedPrefix', value: '/orders' });
    expect(action(r)?.clusterSpecifier).toEqual({ case: 'cluster', value: 'outbound|8080||orders.default' });
    expect(Number(action(r)?.timeout?.seconds)).toBe(3);
    expect(action(r)?.retryPolicy?.numRetries).toBe(2);
    const g = rc('gateway.shop').virtualHosts[1]!.routes.find((x) => x.name === 'shop/greet/rule-0')!;
    expect(action(g)?.clusterSpecifier).toEqual({ case: 'cluster', value: 'outbound|50051||greeter.shop' });
    expect(Number(action(g)?.timeout?.seconds)).toBe(0);
    expect(action(g)?.maxStreamDuration?.grpcTimeoutHeaderMax).toBeDefined();
    // No default route on a gateway: unmatched requests get 404.
    expect(rc('gateway.web').virtualHosts.flatMap((v) => v.routes.map((x) => x.name))).not.toContain('default');
  });

  it('keeps a route with both parents in the mesh, and Gateway parents out of mesh virtual hosts', () => {
    const sidecar = nodeOf({ role: 'sidecar', service: 'web', appPort: 9001 });
    const out = message<RouteConfiguration>(t, sidecar, TYPE_URL.route, 'outbound');
    const orders = out.virtualHosts.find((v) => v.name === 'orders.default:8080')!;
    expect(orders.routes.map((r) => r.name)).toEqual(['default/both/rule-0', 'default']);
  });

  it('a gateway node whose Gateway does not exist (or is not named) gets clusters, endpoints and the trust bundle only', () => {
    for (const n of [nodeOf({ role: 'gateway', gateway: 'default/nowhere' }), nodeOf({ role: 'gateway' })]) {
      expect(names(TYPE_URL.listener, n)).toEqual([]);
      expect(names(TYPE_URL.route, n)).toEqual([]);
      expect(names(TYPE_URL.cluster, n)).toEqual(names(TYPE_URL.cluster));
      expect(t.snapshotFor(n).inconsistencies()).toEqual([]);
    }
  });
});

describe('gateway attachment', () => {
  const GW = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - { name: a, port: 80, protocol: HTTP }
    - { name: b, port: 81, protocol: HTTP, allowedRoutes: { namespaces: { from: All } } }
    - { name: c, port: 82, protocol: HTTP, hostname: c.example }
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ port: 8080 }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: edge }
spec:
  ports: [{ port: 8080 }]
`;
  const route = (name: string, parentRef: string, ns = 'default', hostnames = '') => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: ${ns} }
spec:
  parentRefs: [${parentRef}]
${hostnames ? `  hostnames: ${hostnames}\n` : ''}  rules: [{ backendRefs: [{ name: orders, namespace: default }] }]
`;
  const attached = (yaml: string) => {
    const tr = new Translator(modelOf(yaml), new Registry());
    const n = nodeOf({ role: 'gateway', gateway: 'default/edge' });
    return Object.fromEntries(['a', 'b', 'c'].map((l) => [l, message<RouteConfiguration>(tr, n, TYPE_URL.route, `gateway.${l}`).virtualHosts.map((v) => [v.name, v.routes.map((r) => r.name)])]));
  };

  it('attaches by sectionName, by port, or to every listener; a Same listener skips other namespaces; hostnames must meet', () => {
    expect(attached(GW
      + route('all', '{ kind: Gateway, name: edge }')
      + route('by-name', '{ kind: Gateway, name: edge, sectionName: b }')
      + route('by-port', '{ kind: Gateway, name: edge, port: 82 }')
      + route('other-ns', '{ kind: Gateway, name: edge, namespace: default }', 'shop')
      + route('host-c', '{ kind: Gateway, name: edge }', 'default', '[c.example]')
      + route('host-x', '{ kind: Gateway, name: edge }', 'default', '[x.example]'))).toEqual({
      // Routes without hostnames (served as *) also serve every precise host, after its own routes.
      a: [['c.example:80', ['default/host-c/rule-0', 'default/all/rule-0']], ['x.example:80', ['default/host-x/rule-0', 'default/all/rule-0']], ['*:80', ['default/all/rule-0']]],
      b: [
        ['c.example:81', ['default/host-c/rule-0', 'default/all/rule-0', 'default/by-name/rule-0', 'shop/other-ns/rule-0']],
        ['x.example:81', ['default/host-x/rule-0', 'default/all/rule-0', 'default/by-name/rule-0', 'shop/other-ns/rule-0']],
        ['*:81', ['default/all/rule-0', 'default/by-name/rule-0', 'shop/other-ns/rule-0']],
      ],
      // c.example: routes without hostnames take the listener's; x.example does not meet it.
      c: [['c.example:82', ['default/all/rule-0', 'default/by-port/rule-0', 'default/host-c/rule-0']]],
    });
  });

  it('a Gateway parent named like a Service does not put the route in that service\'s mesh virtual host', () => {
    const tr = new Translator(modelOf(GW + route('gw-only', '{ kind: Gateway, name: edge }')), new Registry());
    const out = message<RouteConfiguration>(tr, nodeOf({ role: 'sidecar', service: 'x', appPort: 1 }), TYPE_URL.route, 'outbound');
    expect(out.virtualHosts.find((v) => v.name === 'edge.default:8080')!.routes.map((r) => r.name)).toEqual(['default']);
  });
});
