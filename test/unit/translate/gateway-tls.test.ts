// Gateway TLS translation (issue 19 item 2): HTTPS listeners sharing a port become one Listener
// with a filter chain each (server_names from the listener hostname; none for the default), each
// with its own HCM and RouteConfiguration and a DownstreamTlsContext naming its certificates over
// SDS; the certificate Secrets go only to gateways serving that Gateway, and a config dump shows
// their key as [redacted]. The sidecar's decoder takes all of it, and refuses what it cannot run.
import { clone, create, toBinary } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { EXTENSIONS, typedExtension } from '../../../common/extensions.js';
import { TYPE_URL } from '../../../common/xds-types.js';
import { Registry } from '../../../control-plane/registry/registry.js';
import { Translator } from '../../../control-plane/translate/index.js';
import { resourceToJson } from '../../../control-plane/xds/type-registry.js';
import { TransportSocketSchema } from '../../../proto/gen/envoy/config/core/v3/base_pb.js';
import { FilterSchema } from '../../../proto/gen/envoy/config/listener/v3/listener_components_pb.js';
import { ListenerSchema, type Listener } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import { SecretSchema, type Secret } from '../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js';
import { DownstreamTlsContextSchema } from '../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { decodeListener } from '../../../sidecar/xds/types/listener.js';
import type { SidecarListener } from '../../../sidecar/xds/types/listener.js';
import { decodeSecret } from '../../../sidecar/xds/types/tls.js';
import { selfSignedCert, tlsSecret } from '../../harness/certs.js';
import { hcmOf, message, modelOf, nodeOf } from '../../harness/mesh.js';

const SHOP = selfSignedCert(['shop.example']);
const API = selfSignedCert(['*.api.example']);
const MESH = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080 }]
---
${tlsSecret('shop', SHOP)}---
${tlsSecret('api', API)}---
${tlsSecret('unused', SHOP)}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - { name: web, port: 80, protocol: HTTP }
    - { name: shop, port: 443, protocol: HTTPS, hostname: shop.example, tls: { certificateRefs: [{ name: shop }] } }
    - { name: api, port: 443, protocol: HTTPS, hostname: "*.api.example", tls: { certificateRefs: [{ name: api }, { name: shop }] } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: other }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8080, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: all }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules: [{ backendRefs: [{ name: orders }] }]
`;

const t = new Translator(modelOf(MESH), new Registry(), { bundlePem: 'PEM' });
// Authenticated as the Gateway's identity (ca/service.ts authorizeXds): it gets the keys.
const edge = nodeOf({ id: 'gw-1', role: 'gateway', gateway: 'default/edge', peerId: 'spiffe://cluster.local/ns/default/sa/edge' });
const unauthenticated = nodeOf({ id: 'gw-3', role: 'gateway', gateway: 'default/edge' });
const other = nodeOf({ id: 'gw-2', role: 'gateway', gateway: 'default/other' });
const names = (type: string, n = edge) => [...t.snapshotFor(n).get(type as never).keys()].sort();

describe('gateway TLS translation', () => {
  it('puts the HTTPS listeners of one port in one Listener, a chain each, and sends their certificates', () => {
    expect(names(TYPE_URL.listener)).toEqual(['gateway.shop', 'gateway.web']);
    expect(names(TYPE_URL.route)).toEqual(['gateway.api', 'gateway.shop', 'gateway.web']);
    expect(names(TYPE_URL.secret)).toEqual(['ROOTCA', 'tls/default/api', 'tls/default/shop']);
    expect(names(TYPE_URL.secret, other)).toEqual(['ROOTCA']);
    // A node that did not prove the Gateway's identity (the plaintext xDS port) gets no key.
    expect(names(TYPE_URL.secret, unauthenticated)).toEqual(['ROOTCA']);
    expect(t.snapshotFor(edge).inconsistencies()).toEqual([]);
    const l = message<Listener>(t, edge, TYPE_URL.listener, 'gateway.shop');
    expect(l.filterChains.map((c) => c.filterChainMatch?.serverNames)).toEqual([['shop.example'], ['*.api.example']]);
    const tlsOf = (i: number) => anyUnpack(l.filterChains[i]!.transportSocket!.configType.value as never, DownstreamTlsContextSchema)!;
    expect(tlsOf(0).commonTlsContext!.tlsCertificateSdsSecretConfigs.map((s) => s.name)).toEqual(['tls/default/shop']);
    expect(tlsOf(1).commonTlsContext!.tlsCertificateSdsSecretConfigs.map((s) => s.name)).toEqual(['tls/default/api', 'tls/default/shop']);
    expect(tlsOf(0).commonTlsContext!.alpnProtocols).toEqual(['h2', 'http/1.1']);
    expect(tlsOf(0).requireClientCertificate).toBeFalsy();
    const web = message<Listener>(t, edge, TYPE_URL.listener, 'gateway.web');
    expect(web.filterChains).toHaveLength(1);
    expect(web.filterChains[0]!.transportSocket).toBeUndefined();
    expect(hcmOf(web).routeSpecifier.value).toMatchObject({ routeConfigName: 'gateway.web' });
  });

  it('sends the certificate and key to the gateway, and a config dump shows the key as [redacted]', () => {
    const s = message<Secret>(t, edge, TYPE_URL.secret, 'tls/default/shop');
    expect(s.type.case).toBe('tlsCertificate');
    const json = JSON.stringify(resourceToJson(SecretSchema, s));
    expect(json).toContain('[redacted]');
    expect(json).not.toContain(SHOP.keyPem.split('\n')[1]!);
    expect(json).toContain(SHOP.certPem.split('\n')[1]!);
  });

  it('is taken by the sidecar decoders: a chain per listener with its routes, SNI names and certificates', () => {
    const r = t.snapshotFor(edge).get(TYPE_URL.listener as never).get('gateway.shop')!;
    const d = decodeListener(r.body);
    expect(d.errors).toEqual([]);
    expect((d.value as SidecarListener).edge!.map((c) => [c.routeName, c.serverNames, c.terminate!.certificates, c.terminate!.minVersion, c.terminate!.maxVersion])).toEqual([
      ['gateway.shop', ['shop.example'], ['tls/default/shop'], 'TLSv1.2', 'TLSv1.3'],
      ['gateway.api', ['*.api.example'], ['tls/default/api', 'tls/default/shop'], 'TLSv1.2', 'TLSv1.3'],
    ]);
    const sec = decodeSecret(t.snapshotFor(edge).get(TYPE_URL.secret as never).get('tls/default/api')!.body);
    expect(sec.errors).toEqual([]);
    expect(sec.value).toMatchObject({ kind: 'certificate', names: ['*.api.example'] });
  });
});

describe('connection limits on a port shared by HTTPS listeners', () => {
  it("take the port's first listener's ClientTrafficPolicy, on every chain (a later listener's own is not used for them)", () => {
    const limited = `${MESH}---
apiVersion: weft.dev/v1alpha1
kind: ClientTrafficPolicy
metadata: { name: api-limits }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: api }]
  maxConnections: 10
  maxUriLength: 100
`;
    const tl = new Translator(modelOf(limited), new Registry(), { bundlePem: 'PEM' });
    const r = tl.snapshotFor(edge).get(TYPE_URL.listener as never).get('gateway.shop')!;
    const d = decodeListener(r.body);
    expect(d.errors).toEqual([]);
    // No connection_limit on either chain (shop, the first, has no policy); api keeps its URI limit.
    expect((d.value as SidecarListener).edge!.map((c) => c.limits.maxConnections)).toEqual([undefined, undefined]);
    expect((d.value as SidecarListener).edge!.map((c) => c.filters.map((f) => f.name).includes('weft.filters.http.request_limits'))).toEqual([false, true]);
  });
});

describe('gateway listener decoding refuses what it cannot run', () => {
  const good = message<Listener>(t, edge, TYPE_URL.listener, 'gateway.shop');
  const variant = (edit: (l: Listener) => void) => {
    const l = clone(ListenerSchema, good);
    edit(l);
    return decodeListener(toBinary(ListenerSchema, l)).errors.map((e) => `${e.path}: ${e.message}`);
  };
  const tlsCtx = (init: object) => create(TransportSocketSchema, typedExtension(EXTENSIONS.downstreamTls, init as never) as never);

  it.each([
    ['a server name on two chains', (l: Listener) => (l.filterChains[1]!.filterChainMatch!.serverNames = ['shop.example']), "filter_chains[1].filter_chain_match.server_names[0]: 'shop.example' is also matched by filter_chains[0]"],
    ['two default chains', (l: Listener) => { l.filterChains[0]!.filterChainMatch!.serverNames = []; l.filterChains[1]!.filterChainMatch!.serverNames = []; }, 'filter_chains: 2 chains have no server_names; at most one may be the default'],
    ['a plaintext chain beside TLS ones', (l: Listener) => { l.filterChains[1]!.transportSocket = undefined; l.filterChains[1]!.filterChainMatch!.serverNames = []; }, "filter_chains: a plaintext chain must be the listener's only chain (plaintext connections cannot be told apart)"],
    ['SNI names on a plaintext chain', (l: Listener) => (l.filterChains[1]!.transportSocket = undefined), 'filter_chains[1].filter_chain_match.server_names: SNI matching needs a TLS transport socket'],
    ['a client certificate demand', (l: Listener) => (l.filterChains[0]!.transportSocket = tlsCtx({ requireClientCertificate: true, commonTlsContext: { tlsCertificateSdsSecretConfigs: [{ name: 'tls/default/shop' }] } })), 'filter_chains[0].transport_socket.typed_config.require_client_certificate: client certificates are not supported on a gateway listener'],
    ['inline certificates', (l: Listener) => (l.filterChains[0]!.transportSocket = tlsCtx({ commonTlsContext: { tlsCertificates: [{}], tlsCertificateSdsSecretConfigs: [{ name: 'tls/default/shop' }] } })), 'filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificates: inline certificates are not accepted: certificates come over SDS (tls_certificate_sds_secret_configs)'],
    ['another ALPN protocol', (l: Listener) => (l.filterChains[0]!.transportSocket = tlsCtx({ commonTlsContext: { alpnProtocols: ['h3'], tlsCertificateSdsSecretConfigs: [{ name: 'tls/default/shop' }] } })), "filter_chains[0].transport_socket.typed_config.common_tls_context.alpn_protocols[0]: unsupported protocol 'h3' (h2, http/1.1)"],
    ['a weak TLS 1.2 suite', (l: Listener) => (l.filterChains[0]!.transportSocket = tlsCtx({ commonTlsContext: { tlsParams: { cipherSuites: ['AES128-SHA'] }, tlsCertificateSdsSecretConfigs: [{ name: 'tls/default/shop' }] } })), 'AES128-SHA'],
    ['chains with different connection limits', (l: Listener) => l.filterChains[1]!.filters.unshift(create(FilterSchema, { name: 'envoy.filters.network.connection_limit', configType: { case: 'typedConfig', value: typedExtension(EXTENSIONS.connectionLimit, { statPrefix: 'x', maxConnections: 5n } as never).configType.value as never } })), "filter_chains[1]: connection limits (connection_limit, max_request_headers_kb, request_headers_timeout, idle_timeout) must equal filter_chains[0]'s"],
    ['a server name that is not a host name', (l: Listener) => (l.filterChains[0]!.filterChainMatch!.serverNames = ['shop example']), "filter_chains[0].filter_chain_match.server_names[0]: 'shop example' is not a host name or *.suffix wildcard"],
  ])('refuses %s', (_what, edit, expected) => {
    const errors = variant(edit);
    expect(errors.some((e) => e.includes(expected)), errors.join('\n')).toBe(true);
  });

  it('refuses a tls_certificate Secret whose key is not the certificate\'s', () => {
    const s = create(SecretSchema, { name: 'x', type: { case: 'tlsCertificate', value: { certificateChain: { specifier: { case: 'inlineString', value: SHOP.certPem } }, privateKey: { specifier: { case: 'inlineString', value: API.keyPem } } } } });
    expect(decodeSecret(toBinary(SecretSchema, s)).errors.map((e) => `${e.path}: ${e.message}`)).toEqual(['tls_certificate.private_key: is not the key of the leaf certificate']);
  });
});
