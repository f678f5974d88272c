// Which proxies a resource affects (dashboard/affects.ts): by the Services and Gateways it names,
// directly or through the resources that name it (a FaultPolicy used by a route's ExtensionRef),
// matched against the clusters in each proxy's snapshot (outbound: it calls the service;
// inbound: it is the service); MeshConfig affects every proxy.
import { describe, expect, it } from 'vitest';
import { affectedProxies, targetsOf } from '../../../control-plane/dashboard/affects.js';
import { TYPE_URL } from '../../../common/xds-types.js';
import type { Snapshot } from '../../../control-plane/xds/snapshot.js';
import { modelOf, nodeOf } from '../../harness/mesh.js';

const svc = (n: string) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${n} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n`;
const MODEL = modelOf(
  [
    svc('orders'),
    svc('web'),
    svc('users'),
    'apiVersion: weft.dev/v1alpha1\nkind: FaultPolicy\nmetadata: { name: orders-flaky }\nspec:\n  abort: { httpStatus: 503, percentage: 2.5 }\n',
    'apiVersion: weft.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: { name: orders-callers }\nspec:\n  service: orders\n  action: ALLOW\n  rules:\n    - from: [{ principals: ["spiffe://cluster.local/ns/default/sa/web"] }]\n',
    'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: orders-chaos }\nspec:\n  parentRefs: [{ kind: Service, name: orders }]\n  rules:\n    - filters:\n        - type: ExtensionRef\n          extensionRef: { group: weft.dev, kind: FaultPolicy, name: orders-flaky }\n      backendRefs: [{ name: users }]\n',
  ].join('---\n'),
);

/** A snapshot holding just these clusters (all affectedProxies reads). */
const snap = (...clusters: string[]) => ({ resources: new Map([[TYPE_URL.cluster, new Map(clusters.map((c) => [c, {}]))]]) }) as unknown as Snapshot;
const NODES = [nodeOf({ id: 'web-1', role: 'sidecar', service: 'web', appPort: 9000 }), nodeOf({ id: 'orders-1', role: 'sidecar', service: 'orders', appPort: 9001 }), nodeOf({ id: 'users-1', role: 'sidecar', service: 'users', appPort: 9002 })];
const SNAPS: Record<string, Snapshot> = {
  'web-1': snap('inbound|9000|web.default', 'outbound|8080||orders.default', 'outbound|8080||users.default'),
  'orders-1': snap('inbound|9001|orders.default', 'outbound|8080||users.default'),
  'users-1': snap('inbound|9002|users.default'),
};
const affected = (key: string) => affectedProxies(MODEL, MODEL.resources.get(key)!, NODES, (id) => SNAPS[id]).map((p) => [p.nodeId, p.via]);

describe('affectedProxies', () => {
  it('a Service: its callers (outbound cluster) and its own instances (inbound cluster)', () => {
    expect(affected('Service/default/orders')).toEqual([
      ['orders-1', ['Cluster inbound|9001|orders.default']],
      ['web-1', ['Cluster outbound|8080||orders.default']],
    ]);
  });

  it('a route: the services of its parentRefs and backendRefs', () => {
    expect([...targetsOf(MODEL, MODEL.resources.get('HTTPRoute/default/orders-chaos')!).services].sort()).toEqual(['orders.default', 'users.default']);
    expect(affected('HTTPRoute/default/orders-chaos').map(([id]) => id)).toEqual(['orders-1', 'users-1', 'web-1']);
  });

  it('a policy named by a route ExtensionRef: the targets of that route', () => {
    expect([...targetsOf(MODEL, MODEL.resources.get('FaultPolicy/default/orders-flaky')!).services].sort()).toEqual(['orders.default', 'users.default']);
  });

  it('an AuthorizationPolicy: only the sidecars of its service (it acts on their inbound side)', () => {
    expect(affected('AuthorizationPolicy/default/orders-callers')).toEqual([['orders-1', ['Cluster inbound|9001|orders.default']]]);
  });

  it('a proxy that neither calls nor is the service is not affected', () => {
    expect(affected('Service/default/web')).toEqual([['web-1', ['Cluster inbound|9000|web.default']]]);
  });
});
