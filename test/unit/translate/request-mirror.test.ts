// RequestMirror -> Envoy route.request_mirror_policies (issue 18): the mirror cluster is the
// outbound cluster of the backendRef's service, port and subset, it is a reference of the route
// configuration (so the snapshot's CDS must hold it), the share is a FractionalPercent, and
// proxyless gRPC clients (which do not mirror) get routes without it.
import { describe, expect, it } from 'vitest';
import { TYPE_URL } from '../../../common/xds-types.js';
import { type MeshModel } from '../../../control-plane/config/types.js';
import { modelOf, nodeOf } from '../../harness/mesh.js';
import { Registry } from '../../../control-plane/registry/registry.js';
import { Translator } from '../../../control-plane/translate/index.js';
import type { NodeInfo } from '../../../control-plane/xds/node.js';
import type { RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import type { Route } from '../../../proto/gen/envoy/config/route/v3/route_components_pb.js';
import { FractionalPercent_DenominatorType as D } from '../../../proto/gen/envoy/type/v3/percent_pb.js';

const model = modelOf;
const node = (over: Partial<NodeInfo> = {}): NodeInfo => nodeOf({ role: 'sidecar', service: 'web', appPort: 7000, ...over });

const MESH = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080 }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: shadow }
spec:
  ports: [{ name: http, port: 8080 }, { name: grpc, port: 9090, protocol: grpc }]
---
apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: shadow }
spec:
  targetRef: { name: shadow }
  subsets: [{ name: canary, labels: { track: canary } }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders }
spec:
  parentRefs: [{ name: orders }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /all } }]
      filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: shadow, port: 8080 } } }]
      backendRefs: [{ name: orders }]
    - matches: [{ path: { type: PathPrefix, value: /some } }]
      filters:
        - { type: RequestMirror, requestMirror: { backendRef: { name: shadow, port: 8080 }, percent: 25 } }
        - { type: RequestMirror, requestMirror: { backendRef: { name: shadow, port: 8080, subset: canary }, fraction: { numerator: 1, denominator: 3 } } }
      backendRefs: [{ name: orders }]
    - matches: [{ path: { type: PathPrefix, value: /few } }]
      filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: shadow, port: 8080 }, fraction: { numerator: 7, denominator: 10000 } } }]
      backendRefs: [{ name: orders }]
    - matches: [{ path: { type: PathPrefix, value: /none } }]
      backendRefs: [{ name: orders }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: shadow }
spec:
  parentRefs: [{ name: shadow, port: 9090 }]
  rules:
    - filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: shadow, port: 9090, subset: canary }, percent: 50 } }]
      backendRefs: [{ name: shadow, port: 9090 }]
`;

const t = new Translator(model(MESH), new Registry());
function routes(n: NodeInfo, name: string): Route[] {
  const rc = t.snapshotFor(n).get(TYPE_URL.route).get('outbound')!.message as RouteConfiguration;
  return rc.virtualHosts.flatMap((v) => v.routes).filter((r) => r.name === name);
}
const mirrorsOf = (n: NodeInfo, name: string) =>
  routes(n, name).map((r) => (r.action.case === 'route' ? r.action.value.requestMirrorPolicies.map((m) => ({ cluster: m.cluster, numerator: m.runtimeFraction?.defaultValue?.numerator, denominator: m.runtimeFraction?.defaultValue?.denominator })) : undefined));

describe('RequestMirror -> request_mirror_policies', () => {
  it.each([
    ['no share given: 100/HUNDRED', 'default/orders/rule-0', [{ cluster: 'outbound|8080||shadow.default', numerator: 100, denominator: D.HUNDRED }]],
    ['percent and a 1/3 fraction per MILLION, to a subset cluster, in filter order', 'default/orders/rule-1', [
      { cluster: 'outbound|8080||shadow.default', numerator: 25, denominator: D.HUNDRED },
      { cluster: 'outbound|8080|canary|shadow.default', numerator: 333_333, denominator: D.MILLION },
    ]],
    ['a fraction over 10,000 as TEN_THOUSAND', 'default/orders/rule-2', [{ cluster: 'outbound|8080||shadow.default', numerator: 7, denominator: D.TEN_THOUSAND }]],
    ['no mirror filter, no policy', 'default/orders/rule-3', []],
    ['a GRPCRoute rule', 'default/shadow/rule-0', [{ cluster: 'outbound|9090|canary|shadow.default', numerator: 50, denominator: D.HUNDRED }]],
  ])('sidecar: %s', (_what, name, expected) => {
    const got = mirrorsOf(node(), name);
    expect(got.length).toBeGreaterThan(0);
    for (const m of got) expect(m).toEqual(expected);
  });

  it('the mirror clusters are references of the route configuration, and in the snapshot (consistent)', () => {
    const snap = t.snapshotFor(node());
    const refs = snap.get(TYPE_URL.route).get('outbound')!.refs.map((r) => r.name);
    expect(refs).toEqual(expect.arrayContaining(['outbound|8080||shadow.default', 'outbound|8080|canary|shadow.default', 'outbound|9090|canary|shadow.default']));
    for (const c of ['outbound|8080||shadow.default', 'outbound|8080|canary|shadow.default', 'outbound|9090|canary|shadow.default']) expect(snap.get(TYPE_URL.cluster).has(c)).toBe(true);
    expect(snap.inconsistencies()).toEqual([]);
  });

  it('proxyless clients get the same routes without mirror policies (gRPC does not mirror)', () => {
    const p = node({ role: 'proxyless', service: undefined, appPort: undefined });
    for (const name of ['default/orders/rule-0', 'default/orders/rule-1', 'default/shadow/rule-0']) {
      const got = mirrorsOf(p, name);
      expect(got.length).toBeGreaterThan(0);
      for (const m of got) expect(m).toEqual([]);
    }
    expect(t.snapshotFor(p).inconsistencies()).toEqual([]);
  });
});
