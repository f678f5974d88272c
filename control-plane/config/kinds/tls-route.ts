/**
 * TLSRoute (gateway.networking.k8s.io/v1alpha2): TLS connections to the Gateway's TLS
 * (Passthrough) listeners it attaches to, chosen by SNI (`hostnames`, intersected with the
 * listener's hostname as for HTTPRoute), go untouched to its backends (Service tcp ports): the
 * gateway never decrypts, the backend serves its own certificate.
 */
import type { TLSRouteSpec } from '../types.js';
import type { Reader } from '../schema.js';
import { HOSTNAME } from '../schema.js';
import type { KindDefinition } from './kind.js';
import { l4RouteReferences, parentName, readGatewayParentRefs, readL4Rules } from './route-common.js';
import { API_VERSION_GATEWAY_ALPHA } from './tcp-route.js';

export function readTLSRoute(r: Reader, v: unknown, ns: string): TLSRouteSpec | undefined {
  const o = r.obj(v, 'spec', ['parentRefs', 'hostnames', 'rules'], ['parentRefs', 'rules']);
  if (!o) return undefined;
  const parentRefs = readGatewayParentRefs(r, o.parentRefs, 'spec.parentRefs', ns, 'TLSRoute');
  const seen = new Set<string>();
  const hostnames = r.arr(o.hostnames, 'spec.hostnames', (x, p) => {
    const h = r.str(x, p, { pattern: HOSTNAME, patternHelp: 'a host name, optionally *.-prefixed' });
    if (h === undefined) return undefined;
    // RFC 6066: a ClientHello's server_name is a DNS name, never an address; such a chain would never match.
    if (/^\d+(\.\d+){3}$/.test(h)) r.err(p, `'${h}' is an IP address; SNI carries host names only`);
    else if (seen.has(h)) r.err(p, `'${h}' is listed twice`);
    else seen.add(h);
    return h;
  }, { max: 16 });
  const rules = readL4Rules(r, o.rules, ns, 'TLSRoute');
  return { parentRefs, hostnames: [...seen], rules };
}

export const tlsRouteKind: KindDefinition<'TLSRoute'> = {
  kind: 'TLSRoute',
  apiVersions: [API_VERSION_GATEWAY_ALPHA],
  plural: 'tlsroutes',
  shortNames: [],
  read: (r, spec, ns) => readTLSRoute(r, spec, ns),
  references: l4RouteReferences,
  addToModel: (b, res) => void b.tlsRoutes.push(res),
  summary: (res) => `parents ${res.spec.parentRefs.map(parentName).join(',')}; hostnames ${res.spec.hostnames.join(',') || '*'}; backends ${res.spec.rules.flatMap((x) => x.backendRefs).map((b) => `${b.name}${b.port ? `:${b.port}` : ''}`).join(',')}`,
};
