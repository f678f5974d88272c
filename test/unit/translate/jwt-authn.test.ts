// JwtPolicy -> envoy.filters.http.jwt_authn + weft.filters.http.jwt_claims: the listener's
// providers and requirement_map hold exactly what its routes name; each route's PerRouteConfig
// names the rule's policy, else the listener's, else the Gateway's; a Service's policy goes on
// its inbound virtual host; the remote JWKS cluster (STRICT_DNS for a name with SNI, STATIC for an
// IP; TLS trusting only the policy's CA) goes only to the nodes whose listeners fetch through it.
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { EXTENSIONS } from '../../../common/extensions.js';
import { TYPE_URL } from '../../../common/xds-types.js';
import { Registry } from '../../../control-plane/registry/registry.js';
import { Translator } from '../../../control-plane/translate/index.js';
import { Cluster_DiscoveryType, type Cluster } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import type { Listener } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import type { RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { UpstreamTlsContextSchema } from '../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { JwtAuthenticationSchema, PerRouteConfigSchema } from '../../../proto/gen/envoy/extensions/filters/http/jwt_authn/v3/config_pb.js';
import { JwtClaimsPerRouteSchema } from '../../../proto/gen/weft/v1/jwt_pb.js';
import { filterNames, hcmOf, message, modelOf, nodeOf } from '../../harness/mesh.js';
import { selfSignedCert } from '../../harness/certs.js';
import { DECODERS } from '../../../sidecar/xds/types/index.js';

const CA = selfSignedCert(['idp.test']).certPem;
const JWKS = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'G0pKVL3fA1cDv0EtmDG48pN1mRyrmBfmj0bSg2PkWU8', y: '55I74nqr6BiCZq_JMlCIjG-cOjazPd_qsBx-43rrkdU', kid: 'k1' }] });
const pol = (name: string, provider: string, rest = '') => `apiVersion: weft.dev/v1alpha1
kind: JwtPolicy
metadata: { name: ${name} }
spec:
  providers: [${provider}]
${rest}`;
const remote = (uri: string) => `{ name: idp, issuer: https://idp.test, audiences: [api], remoteJwks: { uri: "${uri}", caCertificates: ${JSON.stringify(CA)}, cacheDuration: 5m, timeout: 3s } }`;
const local = `{ name: local, localJwks: '${JWKS}', fromCookies: [s], claimToHeaders: [{ claim: sub, header: x-sub }], forward: true, clockSkew: 10s }`;
const YAML = [
  `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080 }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: books }
spec:
  ports: [{ name: http, port: 8080 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8000, protocol: HTTP }, { name: api, port: 9000, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: plain }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8100, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web }
spec:
  parentRefs: [{ kind: Gateway, name: edge }, { kind: Gateway, name: plain }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /admin } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: JwtPolicy, name: admin } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - backendRefs: [{ name: orders, port: 8080 }]
`,
  pol('edge-wide', remote('https://idp.test/jwks'), '  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]\n'),
  pol('api-only', remote('https://10.0.0.9:8443/keys'), '  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: api }]\n  requirement: { allowMissing: true }\n'),
  pol('admin', local, '  requirement: { scopes: [admin], claims: [{ name: org.tier, values: [gold] }] }\n'),
  pol('books', local, '  targetRefs: [{ group: weft.dev, kind: Service, name: books }]\n  requirement: { allowFailed: true }\n'),
].join('---\n');

const t = new Translator(modelOf(YAML), new Registry());
const edge = nodeOf({ id: 'gw', role: 'gateway', gateway: 'default/edge' });
const plain = nodeOf({ id: 'gw2', role: 'gateway', gateway: 'default/plain' });
const books = nodeOf({ id: 'b', role: 'sidecar', service: 'books', appPort: 8080, appProtocol: 'http' });
const orders = nodeOf({ id: 'o', role: 'sidecar', service: 'orders', appPort: 8080, appProtocol: 'http' });

function jwtConfig(n: ReturnType<typeof nodeOf>, listener: string) {
  const f = hcmOf(message<Listener>(t, n, TYPE_URL.listener, listener)).httpFilters.find((x) => x.name === EXTENSIONS.jwtAuthn.name)!;
  return anyUnpack(f.configType.value as never, JwtAuthenticationSchema)!;
}
function perRoute(rc: RouteConfiguration, route: string) {
  const r = rc.virtualHosts.flatMap((v) => v.routes).find((x) => x.name === route)!;
  const a = r.typedPerFilterConfig[EXTENSIONS.jwtAuthn.name];
  const c = r.typedPerFilterConfig[EXTENSIONS.jwtClaims.name];
  return [a && anyUnpack(a, PerRouteConfigSchema)!.requirementSpecifier, c && anyUnpack(c, JwtClaimsPerRouteSchema)] as const;
}
const clusters = (n: ReturnType<typeof nodeOf>) => [...t.snapshotFor(n).get(TYPE_URL.cluster as never).values()].map((r) => r.message as Cluster).filter((c) => c.name.startsWith('jwks|'));

describe('JwtPolicy translation', () => {
  it('jwt_authn then jwt_claims after the request limits, only where routes name a requirement (and claims only where they need some)', () => {
    expect(filterNames(t, edge, 'gateway.web')).toEqual(['envoy.filters.http.jwt_authn', 'weft.filters.http.jwt_claims', 'envoy.filters.http.router']);
    expect(filterNames(t, edge, 'gateway.api')).toEqual(['envoy.filters.http.jwt_authn', 'weft.filters.http.jwt_claims', 'envoy.filters.http.router']);
    expect(filterNames(t, plain, 'gateway.web')).toEqual(['envoy.filters.http.jwt_authn', 'weft.filters.http.jwt_claims', 'envoy.filters.http.router']);
    expect(filterNames(t, books, 'inbound')).toContain('envoy.filters.http.jwt_authn');
    expect(filterNames(t, books, 'inbound')).not.toContain('weft.filters.http.jwt_claims');
    expect(filterNames(t, orders, 'inbound')).not.toContain('envoy.filters.http.jwt_authn');
  });

  it('providers and requirement_map: exactly the policies the listener\'s routes name, in Envoy form', () => {
    const web = jwtConfig(edge, 'gateway.web');
    expect(Object.keys(web.providers).sort()).toEqual(['default/admin/local', 'default/edge-wide/idp']);
    const idp = web.providers['default/edge-wide/idp']!;
    expect([idp.issuer, idp.audiences, idp.forward, idp.clockSkewSeconds, idp.fromHeaders.map((h) => [h.name, h.valuePrefix])]).toEqual(['https://idp.test', ['api'], false, 60, [['authorization', 'Bearer ']]]);
    expect(idp.jwksSourceSpecifier.case).toBe('remoteJwks');
    const rj = idp.jwksSourceSpecifier.value as { httpUri: { uri: string; httpUpstreamType: { value: string }; timeout: { seconds: bigint } }; cacheDuration: { seconds: bigint } };
    expect([rj.httpUri.uri, rj.httpUri.httpUpstreamType.value, rj.httpUri.timeout.seconds, rj.cacheDuration.seconds]).toEqual(['https://idp.test/jwks', expect.stringMatching(/^jwks\|idp\.test\|443\|[0-9a-f]{10}$/), 3n, 300n]);
    const loc = web.providers['default/admin/local']!;
    expect([loc.fromHeaders, loc.fromCookies, loc.forward, loc.clockSkewSeconds, loc.claimToHeaders.map((c) => [c.claimName, c.headerName]), loc.jwksSourceSpecifier.case]).toEqual([[], ['s'], true, 10, [['sub', 'x-sub']], 'localJwks']);
    expect(web.requirementMap['default/edge-wide']!.requiresType).toEqual({ case: 'providerName', value: 'default/edge-wide/idp' });
    const api = jwtConfig(edge, 'gateway.api').requirementMap['default/api-only']!.requiresType;
    expect(api.case).toBe('requiresAny');
    expect((api.value as { requirements: Array<{ requiresType: { case: string } }> }).requirements.map((r) => r.requiresType.case)).toEqual(['providerName', 'allowMissing']);
    const inb = jwtConfig(books, 'inbound').requirementMap['default/books']!.requiresType;
    expect((inb.value as { requirements: Array<{ requiresType: { case: string } }> }).requirements.map((r) => r.requiresType.case)).toEqual(['providerName', 'allowMissingOrFailed']);
  });

  it('each route names its requirement: the rule\'s policy, else the listener\'s, else the Gateway\'s; claims ride along', () => {
    const web = message<RouteConfiguration>(t, edge, TYPE_URL.route, 'gateway.web');
    expect(perRoute(web, 'default/web/rule-0')).toEqual([{ case: 'requirementName', value: 'default/admin' }, expect.objectContaining({ scopes: ['admin'], claims: [expect.objectContaining({ name: 'org.tier', values: ['gold'] })] })]);
    expect(perRoute(web, 'default/web/rule-1')).toEqual([{ case: 'requirementName', value: 'default/edge-wide' }, undefined]);
    const api = message<RouteConfiguration>(t, edge, TYPE_URL.route, 'gateway.api');
    expect(perRoute(api, 'default/web/rule-1')).toEqual([{ case: 'requirementName', value: 'default/api-only' }, undefined]);
    // The plain Gateway has no policy of its own: only the rule's.
    const pl = message<RouteConfiguration>(t, plain, TYPE_URL.route, 'gateway.web');
    expect(perRoute(pl, 'default/web/rule-1')).toEqual([undefined, undefined]);
    const vh = message<RouteConfiguration>(t, books, TYPE_URL.route, 'inbound|books.default').virtualHosts[0]!;
    expect(anyUnpack(vh.typedPerFilterConfig[EXTENSIONS.jwtAuthn.name]!, PerRouteConfigSchema)!.requirementSpecifier).toEqual({ case: 'requirementName', value: 'default/books' });
  });

  it('remote JWKS clusters: STRICT_DNS with SNI for a name, STATIC for an IP, TLS trusting only the CA, to the nodes that fetch through them; the sidecar accepts them', () => {
    const cs = clusters(edge).sort((a, b) => (a.name < b.name ? -1 : 1));
    expect(cs.map((c) => c.name)).toEqual([expect.stringMatching(/^jwks\|10\.0\.0\.9\|8443\|/), expect.stringMatching(/^jwks\|idp\.test\|443\|/)]);
    const [ip, dns] = cs as [Cluster, Cluster];
    expect([dns.clusterDiscoveryType.value, ip.clusterDiscoveryType.value]).toEqual([Cluster_DiscoveryType.STRICT_DNS, Cluster_DiscoveryType.STATIC]);
    const sa = (c: Cluster) => (c.loadAssignment!.endpoints[0]!.lbEndpoints[0]!.hostIdentifier.value as { address: { address: { value: { address: string; portSpecifier: { value: number } } } } }).address.address.value;
    expect([sa(dns).address, sa(dns).portSpecifier.value, sa(ip).address, sa(ip).portSpecifier.value]).toEqual(['idp.test', 443, '10.0.0.9', 8443]);
    const tls = anyUnpack(dns.transportSocket!.configType.value as never, UpstreamTlsContextSchema)!;
    expect(tls.sni).toBe('idp.test');
    expect(tls.commonTlsContext!.validationContextType).toEqual({ case: 'validationContext', value: expect.objectContaining({ trustedCa: expect.objectContaining({ specifier: { case: 'inlineString', value: CA } }) }) });
    expect(anyUnpack(ip.transportSocket!.configType.value as never, UpstreamTlsContextSchema)!.sni).toBe('');
    // Only the nodes whose listeners fetch through them.
    expect(clusters(plain)).toEqual([]);
    expect(clusters(books)).toEqual([]);
    // The proxy's cluster decoder accepts them (and would NACK one routing plaintext).
    for (const r of t.snapshotFor(edge).get(TYPE_URL.cluster as never).values()) expect(DECODERS.cluster(r.body).errors).toEqual([]);
  });
});
