// ApiLifecyclePolicy translated (weft.filters.http.api_lifecycle): the filter in its place in
// http_filters (after RBAC, before the cache) where some route or virtual host carries a policy;
// each Envoy Route of a rule naming one carries its ApiLifecyclePolicy with the dates in epoch
// seconds; the Gateway's / listener's policy covers the other gateway routes; a Service's policy
// sits on its sidecars' inbound virtual host; proxyless clients get none; meshes without
// policies get nothing.
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { hcmOf, meshFixture, message, modelOf, nodeOf } from '../../harness/mesh.js';
import { EXTENSIONS } from '../../../common/extensions.js';
import { SIDECAR_LISTENER, TYPE_URL } from '../../../common/xds-types.js';
import { Registry } from '../../../control-plane/registry/registry.js';
import { Translator } from '../../../control-plane/translate/index.js';
import type { Listener } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import type { RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { ApiLifecyclePolicySchema } from '../../../proto/gen/weft/v1/lifecycle_pb.js';

const NAME = EXTENSIONS.apiLifecycle.name;
const YAML = `${meshFixture('orders-greeter.yaml')}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8000, protocol: HTTP }]
---
apiVersion: weft.dev/v1alpha1
kind: ApiLifecyclePolicy
metadata: { name: v1 }
spec:
  deprecation: "2026-01-01T00:00:00Z"
  sunset: "2026-07-01"
  successor: https://api.example.com/v2
  link: https://developer.example.com/v1
  rejectAfterSunset: true
---
apiVersion: weft.dev/v1alpha1
kind: ApiLifecyclePolicy
metadata: { name: edge-wide }
spec:
  deprecation: true
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
---
apiVersion: weft.dev/v1alpha1
kind: ApiLifecyclePolicy
metadata: { name: greeter-old }
spec:
  deprecation: "2025-06-01"
  targetRefs: [{ group: weft.dev, kind: Service, name: greeter }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /v1 } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: ApiLifecyclePolicy, name: v1 } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - backendRefs: [{ name: orders, port: 8080 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: mesh-orders }
spec:
  parentRefs: [{ kind: Service, name: orders, port: 8080 }]
  rules:
    - matches: [{ headers: [{ name: api-version, value: "1" }] }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: ApiLifecyclePolicy, name: v1 } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - backendRefs: [{ name: orders, port: 8080 }]
`;
const t = new Translator(modelOf(YAML), new Registry());
const policy = (a: unknown) => (a ? anyUnpack(a as never, ApiLifecyclePolicySchema) : undefined);
const routesOf = (n: ReturnType<typeof nodeOf>) => [...t.snapshotFor(n).get(TYPE_URL.route as never).values()].map((r) => r.message as RouteConfiguration);
const V1 = { name: 'default/v1', deprecated: true, deprecationTime: 1767225600n, sunsetTime: 1782864000n, successor: 'https://api.example.com/v2', link: 'https://developer.example.com/v1', rejectAfterSunset: true };

describe('ApiLifecyclePolicy translated', () => {
  it('gateway: the filter after RBAC and before the router; the rule\'s policy on its route, the Gateway\'s on the others', () => {
    const gw = nodeOf({ role: 'gateway', gateway: 'default/edge', service: 'edge' });
    expect(hcmOf(message<Listener>(t, gw, TYPE_URL.listener, 'gateway.web')).httpFilters.map((f) => f.name)).toEqual([NAME, 'envoy.filters.http.router']);
    const routes = routesOf(gw).flatMap((rc) => rc.virtualHosts.flatMap((v) => v.routes));
    const byName = Object.fromEntries(routes.map((r) => [r.name, policy(r.typedPerFilterConfig[NAME])]));
    expect(byName['default/api/rule-0']).toMatchObject(V1);
    expect(byName['default/api/rule-1']).toMatchObject({ name: 'default/edge-wide', deprecated: true, successor: '', link: '', rejectAfterSunset: false });
    expect(byName['default/api/rule-1']!.deprecationTime).toBeUndefined();
    expect(byName['default/api/rule-1']!.sunsetTime).toBeUndefined();
  });

  it('sidecar outbound: the mesh route\'s rule carries its policy; inbound: the Service\'s policy on the virtual host', () => {
    const orders = nodeOf({ role: 'sidecar', service: 'orders', appPort: 7001, appProtocol: 'http' });
    const names = (n: ReturnType<typeof nodeOf>, l: string) => hcmOf(message<Listener>(t, n, TYPE_URL.listener, l)).httpFilters.map((f) => f.name);
    expect(names(orders, SIDECAR_LISTENER.outbound)).toContain(NAME);
    expect(names(orders, SIDECAR_LISTENER.inbound)).not.toContain(NAME);
    const out = routesOf(orders).flatMap((rc) => rc.virtualHosts.flatMap((v) => v.routes)).filter((r) => NAME in r.typedPerFilterConfig);
    expect(out.map((r) => policy(r.typedPerFilterConfig[NAME])!.name)).toEqual(['default/v1']);
    const greeter = nodeOf({ role: 'sidecar', service: 'greeter', appPort: 7000, appProtocol: 'grpc' });
    const inbound = names(greeter, SIDECAR_LISTENER.inbound);
    expect(inbound.indexOf(NAME)).toBeGreaterThan(inbound.indexOf('envoy.filters.http.cors'));
    const vhs = routesOf(greeter).flatMap((rc) => rc.virtualHosts).filter((v) => NAME in v.typedPerFilterConfig);
    expect(vhs.map((v) => policy(v.typedPerFilterConfig[NAME]))).toEqual([expect.objectContaining({ name: 'default/greeter-old', deprecationTime: 1748736000n })]);
  });

  it('proxyless clients and meshes without policies get no lifecycle filter', () => {
    const proxyless = nodeOf({ service: 'client' });
    const all = routesOf(proxyless).flatMap((rc) => [...rc.virtualHosts.map((v) => v.typedPerFilterConfig), ...rc.virtualHosts.flatMap((v) => v.routes.map((r) => r.typedPerFilterConfig))]);
    expect(all.some((c) => NAME in c)).toBe(false);
    const plain = new Translator(modelOf(meshFixture('orders-greeter.yaml')), new Registry());
    const orders = nodeOf({ role: 'sidecar', service: 'orders', appPort: 7001, appProtocol: 'http' });
    for (const l of [SIDECAR_LISTENER.outbound, SIDECAR_LISTENER.inbound]) expect(hcmOf(message<Listener>(plain, orders, TYPE_URL.listener, l)).httpFilters.map((f) => f.name)).not.toContain(NAME);
  });
});
