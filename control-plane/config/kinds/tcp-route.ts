/**
 * TCPRoute (gateway.networking.k8s.io/v1alpha2): every connection to the Gateway TCP listeners
 * it attaches to goes to its backends (Service tcp ports), shared by weight. Gateway parents
 * only: in the mesh a caller reaches a TCP service through a local port (Service spec.upstreams).
 */
import type { TCPRouteSpec } from '../types.js';
import type { Reader } from '../schema.js';
import type { KindDefinition } from './kind.js';
import { l4RouteReferences, parentName, readGatewayParentRefs, readL4Rules } from './route-common.js';

/** The Gateway API version that has TCPRoute and TLSRoute (they are not in v1). */
export const API_VERSION_GATEWAY_ALPHA = 'gateway.networking.k8s.io/v1alpha2';

export function readTCPRoute(r: Reader, v: unknown, ns: string): TCPRouteSpec | undefined {
  const o = r.obj(v, 'spec', ['parentRefs', 'rules'], ['parentRefs', 'rules']);
  if (!o) return undefined;
  const parentRefs = readGatewayParentRefs(r, o.parentRefs, 'spec.parentRefs', ns, 'TCPRoute');
  const rules = readL4Rules(r, o.rules, ns, 'TCPRoute');
  return { parentRefs, rules };
}

export const tcpRouteKind: KindDefinition<'TCPRoute'> = {
  kind: 'TCPRoute',
  apiVersions: [API_VERSION_GATEWAY_ALPHA],
  plural: 'tcproutes',
  shortNames: [],
  read: (r, spec, ns) => readTCPRoute(r, spec, ns),
  references: l4RouteReferences,
  addToModel: (b, res) => void b.tcpRoutes.push(res),
  summary: (res) => `parents ${res.spec.parentRefs.map(parentName).join(',')}; backends ${res.spec.rules.flatMap((x) => x.backendRefs).map((b) => `${b.name}${b.port ? `:${b.port}` : ''}`).join(',')}`,
};
