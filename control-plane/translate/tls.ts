/**
 * Mesh mTLS in standard Envoy terms:
 * - the trust bundle as an SDS Secret `ROOTCA` (a validation context);
 * - the inbound listener's filter chains: one matching transport_protocol "tls" with a
 *   DownstreamTlsContext requiring a client certificate (STRICT, PERMISSIVE), one for
 *   "raw_buffer" plaintext (PERMISSIVE, DISABLE);
 * - outbound clusters: a transport socket match on endpoint metadata {tlsMode: weft} (instances
 *   registered by sidecars with a workload certificate) carrying an UpstreamTlsContext that only
 *   accepts the destination service's SPIFFE ID; other endpoints stay plaintext.
 * The workload certificate is referenced by the name `default` and never sent: its key is made by
 * the sidecar and never leaves it.
 */
import { MESH_TLS12_CIPHERS } from '../../common/tls-policy.js';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { EXTENSIONS, typedExtension } from '../../common/extensions.js';
import { TYPE_URL } from '../../common/xds-types.js';
import type { Cluster_TransportSocketMatchSchema } from '../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import type { FilterChainSchema } from '../../proto/gen/envoy/config/listener/v3/listener_components_pb.js';
type FilterChainInit = MessageInitShape<typeof FilterChainSchema>;
type TsmInit = MessageInitShape<typeof Cluster_TransportSocketMatchSchema>;
import { SubjectAltNameMatcher_SanType, TlsParameters_TlsProtocol } from '../../proto/gen/envoy/extensions/transport_sockets/tls/v3/common_pb.js';
import { SecretSchema } from '../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js';
import { DownstreamTlsContextSchema, UpstreamTlsContextSchema } from '../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import type { AppProtocol, MtlsMode } from '../config/types.js';
import { makeResource, type Resource } from '../xds/snapshot.js';
import { ADS_SOURCE } from './proto-helpers.js';

export const ROOTCA_SECRET = 'ROOTCA';
export const WORKLOAD_CERT_SECRET = 'default';

export function spiffeId(trustDomain: string, namespace: string, service: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${service}`;
}

export function trustBundleSecret(pem: string): Resource {
  const msg = create(SecretSchema, {
    name: ROOTCA_SECRET,
    type: { case: 'validationContext', value: { trustedCa: { specifier: { case: 'inlineString', value: pem } } } },
  });
  return makeResource(TYPE_URL.secret, ROOTCA_SECRET, SecretSchema, msg);
}

/** MeshConfig spec.mtls.minProtocolVersion. */
export type MeshTlsFloor = 'TLSv1_2' | 'TLSv1_3';

/** TLS 1.3 only, or (explicitly allowed) 1.2 with forward-secret AEAD suites only. */
function tlsParams(floor: MeshTlsFloor) {
  return floor === 'TLSv1_2'
    ? { tlsMinimumProtocolVersion: TlsParameters_TlsProtocol.TLSv1_2, tlsMaximumProtocolVersion: TlsParameters_TlsProtocol.TLSv1_3, cipherSuites: [...MESH_TLS12_CIPHERS] }
    : { tlsMinimumProtocolVersion: TlsParameters_TlsProtocol.TLSv1_3, tlsMaximumProtocolVersion: TlsParameters_TlsProtocol.TLSv1_3 };
}

function commonTls(alpn: string[], sans: string[], floor: MeshTlsFloor) {
  return {
    tlsParams: tlsParams(floor),
    alpnProtocols: alpn,
    tlsCertificateSdsSecretConfigs: [{ name: WORKLOAD_CERT_SECRET, sdsConfig: ADS_SOURCE }],
    validationContextType: sans.length
      ? {
          case: 'combinedValidationContext' as const,
          value: {
            defaultValidationContext: { matchTypedSubjectAltNames: sans.map((s) => ({ sanType: SubjectAltNameMatcher_SanType.URI, matcher: { matchPattern: { case: 'exact' as const, value: s } } })) },
            validationContextSdsSecretConfig: { name: ROOTCA_SECRET, sdsConfig: ADS_SOURCE },
          },
        }
      : { case: 'validationContextSdsSecretConfig' as const, value: { name: ROOTCA_SECRET, sdsConfig: ADS_SOURCE } },
  };
}

/** The ALPN a mesh connection to a port of `protocol` offers: none for tcp (raw bytes, no HTTP version to agree on). */
export function meshAlpn(protocol: AppProtocol): string[] {
  return protocol === 'tcp' ? [] : protocol === 'http' ? ['http/1.1'] : ['h2'];
}

/**
 * Filter chains of the inbound listener for a mode; each carries the same network filters.
 * `alpn`: what the TLS chain offers (h2 and http/1.1 for the HTTP connection manager; none for tcp_proxy).
 */
export function inboundChains(mode: MtlsMode, filters: FilterChainInit['filters'], floor: MeshTlsFloor, alpn: string[] = ['h2', 'http/1.1']): FilterChainInit[] {
  const tls: FilterChainInit = {
    filterChainMatch: { transportProtocol: 'tls' },
    filters,
    transportSocket: typedExtension(EXTENSIONS.downstreamTls, { requireClientCertificate: true, commonTlsContext: commonTls(alpn, [], floor) }),
  };
  const plain: FilterChainInit = { filterChainMatch: { transportProtocol: 'raw_buffer' }, filters };
  if (mode === 'STRICT') return [tls];
  if (mode === 'DISABLE') return [{ filters }];
  return [tls, plain];
}

/** The transport socket match for mesh endpoints of a cluster to `namespace/service`. */
export function meshTransportSocketMatch(trustDomain: string, namespace: string, service: string, port: number, subset: string, protocol: AppProtocol, floor: MeshTlsFloor): TsmInit {
  const ctx = create(UpstreamTlsContextSchema, {
    sni: `outbound_.${port}_.${subset}_.${service}.${namespace}.svc.${trustDomain}`,
    commonTlsContext: commonTls(meshAlpn(protocol), [spiffeId(trustDomain, namespace, service)], floor),
  });
  return {
    name: 'tlsMode-weft',
    match: { tlsMode: 'weft' },
    transportSocket: typedExtension(EXTENSIONS.upstreamTls, ctx),
  };
}

/** SDS name of the certificate Secret `ns/name` a gateway serves. */
export function gatewayCertSecretName(namespace: string, name: string): string {
  return `tls/${namespace}/${name}`;
}

/** A user's certificate and key as an SDS Secret (tls_certificate), sent only to the gateways that serve it. */
export function certificateSecret(sdsName: string, certificatePem: string, privateKeyPem: string): Resource {
  const msg = create(SecretSchema, {
    name: sdsName,
    type: {
      case: 'tlsCertificate',
      value: { certificateChain: { specifier: { case: 'inlineString', value: certificatePem } }, privateKey: { specifier: { case: 'inlineString', value: privateKeyPem } } },
    },
  });
  return makeResource(TYPE_URL.secret, sdsName, SecretSchema, msg);
}

/** A gateway's HTTPS chain: the user's certificates over SDS, TLS 1.2 and 1.3, ALPN h2 then http/1.1, no client certificate. */
export function terminatingTls(certificates: readonly string[]) {
  return create(DownstreamTlsContextSchema, {
    commonTlsContext: {
      tlsParams: { tlsMinimumProtocolVersion: TlsParameters_TlsProtocol.TLSv1_2, tlsMaximumProtocolVersion: TlsParameters_TlsProtocol.TLSv1_3 },
      alpnProtocols: ['h2', 'http/1.1'],
      tlsCertificateSdsSecretConfigs: certificates.map((name) => ({ name, sdsConfig: ADS_SOURCE })),
    },
  });
}
