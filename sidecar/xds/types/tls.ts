/**
 * TLS in xDS terms, as the sidecar honours it: the trust bundle arrives as an SDS `Secret` (a
 * validation context), the inbound listener's filter chains say whether TLS (mTLS) and/or
 * plaintext are accepted, and a Cluster's transport socket (or its `tlsMode: weft` transport
 * socket match) says to dial hosts with mTLS and which SPIFFE IDs the peer may present.
 *
 * The workload certificate itself is never an xDS resource: its key is made by this sidecar and
 * never leaves it. Listeners and clusters name it `default` (tls_certificate_sds_secret_configs),
 * as Istio does, and the sidecar serves that name from its own identity.
 */
import { unpackAny, decodeMessage } from '../../../common/wire-decode.js';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS, isExtensionConfig } from '../../../common/extensions.js';
import type { Any } from '@bufbuild/protobuf/wkt';
import type { Cluster } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import type { Listener } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import { SubjectAltNameMatcher_SanType, TlsParameters_TlsProtocol, type CertificateValidationContext } from '../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/common_pb.js';
import { SecretSchema } from '../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js';
import { DownstreamTlsContextSchema, UpstreamTlsContextSchema, type CommonTlsContext } from '../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { Problems, type Decoded } from './decoded.js';
import { MESH_TLS12_CIPHERS } from '../../../common/tls-policy.js';
import { checkSupported, supportedFields } from './supported.js';

/** The parts of the TLS contexts the sidecar executes; any other field is refused. */
const TLS_FIELDS = supportedFields({
  'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext': ['common_tls_context', 'sni'],
  'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext': ['common_tls_context', 'require_client_certificate'],
  'envoy.extensions.transport_sockets.tls.v3.CommonTlsContext': ['tls_params', 'tls_certificate_sds_secret_configs', 'validation_context_sds_secret_config', 'combined_validation_context', 'alpn_protocols'],
  'envoy.extensions.transport_sockets.tls.v3.TlsParameters': ['tls_minimum_protocol_version', 'tls_maximum_protocol_version', 'cipher_suites'],
  'envoy.extensions.transport_sockets.tls.v3.CommonTlsContext.CombinedCertificateValidationContext': ['default_validation_context', 'validation_context_sds_secret_config'],
  'envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext': ['match_typed_subject_alt_names'],
  'envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig': ['name', 'sds_config'],
  'envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher': ['san_type', 'matcher'],
});
const ALLOWED_TLS12 = new Set(MESH_TLS12_CIPHERS);

export const TLS_SOCKET = 'envoy.transport_sockets.tls';
/** The name listeners and clusters use for the sidecar's own workload certificate. */
export const WORKLOAD_CERT_SECRET = 'default';
/** Endpoint metadata (filter_metadata["envoy.transport_socket_match"]) marking a mesh endpoint. */
export const TLS_MODE_KEY = 'tlsMode';
export const TLS_MODE_MESH = 'weft';

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

export interface TrustBundle {
  name: string;
  /** PEM, one or more roots; the first is the one the CA signs with now. */
  pem: string;
  /** SHA-256 fingerprints, same order. */
  fingerprints: string[];
}

/** The protocol versions and (TLS 1.2) suites of a TLS context. */
export interface TlsParams {
  minVersion: TlsVersion;
  maxVersion: TlsVersion;
  /** OpenSSL cipher list for TLS 1.2 (forward-secret AEAD only); undefined when 1.2 is not allowed. */
  ciphers: string | undefined;
}

export interface DownstreamTls extends TlsParams {
  requireClientCertificate: boolean;
  alpn: string[];
  /** SDS name of the validation context (trust bundle). */
  caSecret: string;
}

/** How the inbound listener accepts connections. */
export interface InboundTransport {
  tls: DownstreamTls | undefined;
  plaintext: boolean;
}

export interface UpstreamTls extends TlsParams {
  /** Exact SPIFFE IDs (URI SANs) the peer may present; empty means any identity the bundle trusts. */
  sans: string[];
  alpn: string[];
  sni: string;
  caSecret: string;
  /** true: every host; false: only hosts whose metadata has tlsMode: weft. */
  allHosts: boolean;
}

function tlsVersion(v: TlsParameters_TlsProtocol, dflt: TlsVersion, p: Problems, path: string): TlsVersion {
  if (v === TlsParameters_TlsProtocol.TLS_AUTO) return dflt;
  if (v === TlsParameters_TlsProtocol.TLSv1_2) return 'TLSv1.2';
  if (v === TlsParameters_TlsProtocol.TLSv1_3) return 'TLSv1.3';
  p.add(path, `unsupported TLS version '${TlsParameters_TlsProtocol[v] ?? v}' (TLSv1_2 or TLSv1_3)`);
  return dflt;
}

/** Certificate and validation context references; inline keys are refused (keys stay local). */
function commonContext(c: CommonTlsContext | undefined, p: Problems, path: string): { caSecret: string; sans: string[]; params: TlsParams; alpn: string[] } {
  if (!c) {
    p.add(`${path}.common_tls_context`, 'is required');
    return { caSecret: '', sans: [], params: { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers: undefined }, alpn: [] };
  }
  if (c.tlsCertificates.length) p.add(`${path}.common_tls_context.tls_certificates`, 'inline certificates are not accepted: the workload certificate is made by the sidecar (use tls_certificate_sds_secret_configs name "default")');
  const certs = c.tlsCertificateSdsSecretConfigs;
  if (certs.length !== 1 || certs[0]!.name !== WORKLOAD_CERT_SECRET) p.add(`${path}.common_tls_context.tls_certificate_sds_secret_configs`, `must name exactly the secret '${WORKLOAD_CERT_SECRET}' (the sidecar's workload certificate)`);
  let caSecret = '';
  let validation: CertificateValidationContext | undefined;
  const v = c.validationContextType;
  if (v.case === 'validationContextSdsSecretConfig') caSecret = v.value.name;
  else if (v.case === 'combinedValidationContext') {
    caSecret = v.value.validationContextSdsSecretConfig?.name ?? '';
    validation = v.value.defaultValidationContext;
  } else p.add(`${path}.common_tls_context.validation_context_type`, 'must be validation_context_sds_secret_config or combined_validation_context (the trust bundle comes over SDS)');
  if (v.case && !caSecret) p.add(`${path}.common_tls_context.validation_context_sds_secret_config.name`, 'is required');
  const sans: string[] = [];
  validation?.matchTypedSubjectAltNames.forEach((m, i) => {
    const mp = `${path}.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names[${i}]`;
    if (m.sanType !== SubjectAltNameMatcher_SanType.URI) p.add(`${mp}.san_type`, 'only URI SANs (SPIFFE IDs) are supported');
    else if (m.matcher?.matchPattern.case !== 'exact') p.add(`${mp}.matcher`, 'only exact matches are supported');
    else sans.push(m.matcher.matchPattern.value);
  });
  // Mesh mTLS is TLS 1.3 unless the config explicitly allows 1.2 (then forward-secret AEAD suites only).
  const tp = `${path}.common_tls_context.tls_params`;
  const min = tlsVersion(c.tlsParams?.tlsMinimumProtocolVersion ?? 0, 'TLSv1.3', p, `${tp}.tls_minimum_protocol_version`);
  const max = tlsVersion(c.tlsParams?.tlsMaximumProtocolVersion ?? 0, 'TLSv1.3', p, `${tp}.tls_maximum_protocol_version`);
  if (min === 'TLSv1.3' && max === 'TLSv1.2') p.add(`${tp}.tls_maximum_protocol_version`, 'must not be below the minimum');
  const suites = c.tlsParams?.cipherSuites ?? [];
  suites.forEach((x, i) => {
    if (!ALLOWED_TLS12.has(x)) p.add(`${tp}.cipher_suites[${i}]`, `'${x}' is not allowed in the mesh (forward-secret AEAD suites only: ${MESH_TLS12_CIPHERS.join(', ')})`);
  });
  const ciphers = min === 'TLSv1.2' ? (suites.length ? suites : MESH_TLS12_CIPHERS).join(':') : undefined;
  for (const [i, a] of c.alpnProtocols.entries()) if (a !== 'h2' && a !== 'http/1.1') p.add(`${path}.common_tls_context.alpn_protocols[${i}]`, `unsupported protocol '${a}' (h2, http/1.1)`);
  return { caSecret, sans, params: { minVersion: min, maxVersion: max, ciphers }, alpn: c.alpnProtocols };
}

function unpackTls<T>(any: Any | undefined, kind: 'UpstreamTlsContext' | 'DownstreamTlsContext', p: Problems, path: string): T | undefined {
  if (!any) {
    p.add(`${path}.typed_config`, 'is required');
    return undefined;
  }
  if (!isExtensionConfig(any.typeUrl, kind === 'UpstreamTlsContext' ? EXTENSIONS.upstreamTls : EXTENSIONS.downstreamTls)) {
    p.add(`${path}.typed_config.type_url`, `unsupported transport socket '${any.typeUrl}' (want ${kind})`);
    return undefined;
  }
  const schema = kind === 'UpstreamTlsContext' ? UpstreamTlsContextSchema : DownstreamTlsContextSchema;
  const ctx = unpackAny(any, schema);
  if (ctx) checkSupported(schema, ctx, TLS_FIELDS, p, `${path}.typed_config`);
  return ctx as T | undefined;
}

/** A Cluster's mTLS settings (undefined: plaintext to every host). */
export function upstreamTlsOf(c: Cluster, p: Problems): UpstreamTls | undefined {
  let socket = c.transportSocket;
  let path = 'transport_socket';
  let allHosts = true;
  if (c.transportSocketMatches.length) {
    const i = c.transportSocketMatches.findIndex((m) => m.match?.[TLS_MODE_KEY] === TLS_MODE_MESH);
    if (i < 0) {
      p.add('transport_socket_matches', `only a match on {${TLS_MODE_KEY}: ${TLS_MODE_MESH}} is supported`);
      return undefined;
    }
    socket = c.transportSocketMatches[i]!.transportSocket;
    path = `transport_socket_matches[${i}].transport_socket`;
    allHosts = false;
  }
  if (!socket) return undefined;
  if (socket.name !== TLS_SOCKET) {
    p.add(`${path}.name`, `unsupported transport socket '${socket.name}' (${TLS_SOCKET})`);
    return undefined;
  }
  const any = socket.configType.case === 'typedConfig' ? socket.configType.value : undefined;
  const ctx = unpackTls<{ commonTlsContext?: CommonTlsContext; sni: string }>(any, 'UpstreamTlsContext', p, path);
  if (!ctx) return undefined;
  const cc = commonContext(ctx.commonTlsContext, p, path);
  return { sans: cc.sans, alpn: cc.alpn, sni: ctx.sni, caSecret: cc.caSecret, allHosts, ...cc.params };
}

/** A gateway chain's TLS: the user's certificates (SDS names), versions, suites and ALPN; no client certificate. */
export interface TerminatingTls extends TlsParams {
  certificates: readonly string[];
  alpn: readonly string[];
}

function downstreamContext(socket: NonNullable<Listener['filterChains'][number]['transportSocket']>): { commonTlsContext?: CommonTlsContext; requireClientCertificate?: boolean } | undefined {
  const any = socket.configType.case === 'typedConfig' ? socket.configType.value : undefined;
  return any && isExtensionConfig(any.typeUrl, EXTENSIONS.downstreamTls) ? unpackAny(any, DownstreamTlsContextSchema) : undefined;
}

/** Whether a downstream TLS socket serves certificates other than the workload's own (a gateway's). */
export function servesUserCertificates(socket: NonNullable<Listener['filterChains'][number]['transportSocket']>): boolean {
  const c = downstreamContext(socket)?.commonTlsContext;
  return !!c && c.tlsCertificateSdsSecretConfigs.some((x) => x.name !== WORKLOAD_CERT_SECRET);
}

/**
 * A gateway HTTPS chain's DownstreamTlsContext: certificates by SDS name (not the workload's,
 * not inline), no client certificate and no validation context, TLS 1.2..1.3 (1.2 with
 * forward-secret AEAD suites), ALPN h2 / http/1.1.
 */
export function terminatingTlsOf(socket: NonNullable<Listener['filterChains'][number]['transportSocket']>, p: Problems, path: string): TerminatingTls | undefined {
  if (socket.name !== TLS_SOCKET) {
    p.add(`${path}.name`, `unsupported transport socket '${socket.name}' (${TLS_SOCKET})`);
    return undefined;
  }
  const any = socket.configType.case === 'typedConfig' ? socket.configType.value : undefined;
  const ctx = unpackTls<{ commonTlsContext?: CommonTlsContext; requireClientCertificate?: boolean }>(any, 'DownstreamTlsContext', p, path);
  if (!ctx) return undefined;
  const before = p.errors.length;
  const c = ctx.commonTlsContext;
  const cp = `${path}.typed_config.common_tls_context`;
  if (!c) {
    p.add(cp, 'is required');
    return undefined;
  }
  if (ctx.requireClientCertificate) p.add(`${path}.typed_config.require_client_certificate`, 'client certificates are not supported on a gateway listener');
  if (c.validationContextType.case) p.add(`${cp}.validation_context_type`, 'client certificate validation is not supported on a gateway listener');
  if (c.tlsCertificates.length) p.add(`${cp}.tls_certificates`, 'inline certificates are not accepted: certificates come over SDS (tls_certificate_sds_secret_configs)');
  const certificates = c.tlsCertificateSdsSecretConfigs.map((x) => x.name);
  if (!certificates.length) p.add(`${cp}.tls_certificate_sds_secret_configs`, 'names no certificate');
  certificates.forEach((n, i) => {
    if (!n || n === WORKLOAD_CERT_SECRET) p.add(`${cp}.tls_certificate_sds_secret_configs[${i}].name`, n ? `'${n}' is the workload certificate, which a gateway does not serve to the outside` : 'is required');
  });
  const tp = `${cp}.tls_params`;
  const min = tlsVersion(c.tlsParams?.tlsMinimumProtocolVersion ?? 0, 'TLSv1.2', p, `${tp}.tls_minimum_protocol_version`);
  const max = tlsVersion(c.tlsParams?.tlsMaximumProtocolVersion ?? 0, 'TLSv1.3', p, `${tp}.tls_maximum_protocol_version`);
  if (min === 'TLSv1.3' && max === 'TLSv1.2') p.add(`${tp}.tls_maximum_protocol_version`, 'must not be below the minimum');
  const suites = c.tlsParams?.cipherSuites ?? [];
  suites.forEach((x, i) => {
    if (!ALLOWED_TLS12.has(x)) p.add(`${tp}.cipher_suites[${i}]`, `'${x}' is not supported (forward-secret AEAD suites only: ${MESH_TLS12_CIPHERS.join(', ')})`);
  });
  const alpn = c.alpnProtocols.length ? c.alpnProtocols : ['h2', 'http/1.1'];
  for (const [i, a] of c.alpnProtocols.entries()) if (a !== 'h2' && a !== 'http/1.1') p.add(`${cp}.alpn_protocols[${i}]`, `unsupported protocol '${a}' (h2, http/1.1)`);
  if (p.errors.length > before) return undefined;
  return { certificates, alpn, minVersion: min, maxVersion: max, ciphers: min === 'TLSv1.2' ? (suites.length ? suites : MESH_TLS12_CIPHERS).join(':') : undefined };
}

/** The inbound listener's transport: a TLS chain (transport_protocol "tls"), a plaintext one, or both. */
/** `defaultAlpn`: what a TLS chain without alpn_protocols offers (HTTP listeners h2 and http/1.1; TCP none). */
export function inboundTransportOf(l: Listener, p: Problems, defaultAlpn: readonly string[] = ['h2', 'http/1.1']): InboundTransport {
  let tls: DownstreamTls | undefined;
  let plaintext = false;
  l.filterChains.forEach((fc, i) => {
    const path = `filter_chains[${i}]`;
    const proto = fc.filterChainMatch?.transportProtocol ?? '';
    const socket = fc.transportSocket;
    if (!socket) {
      if (proto === 'tls') p.add(`${path}.transport_socket`, 'a chain matching transport_protocol "tls" needs a TLS transport socket');
      plaintext = true;
      return;
    }
    if (socket.name !== TLS_SOCKET) {
      p.add(`${path}.transport_socket.name`, `unsupported transport socket '${socket.name}' (${TLS_SOCKET})`);
      return;
    }
    if (tls) {
      p.add(`${path}.transport_socket`, 'only one TLS filter chain is supported');
      return;
    }
    const any = socket.configType.case === 'typedConfig' ? socket.configType.value : undefined;
    const ctx = unpackTls<{ commonTlsContext?: CommonTlsContext; requireClientCertificate?: boolean }>(any, 'DownstreamTlsContext', p, `${path}.transport_socket`);
    if (!ctx) return;
    const cc = commonContext(ctx.commonTlsContext, p, `${path}.transport_socket`);
    tls = { requireClientCertificate: ctx.requireClientCertificate ?? false, alpn: cc.alpn.length ? cc.alpn : [...defaultAlpn], caSecret: cc.caSecret, ...cc.params };
  });
  if (!l.filterChains.length) plaintext = true;
  return { tls, plaintext };
}

/** A certificate and its key for a gateway to serve (SDS tls_certificate). */
export interface ServingCertificate {
  name: string;
  certPem: string;
  keyPem: string;
  /** The leaf's DNS names and expiry (for the admin view; the key is never shown). */
  names: string[];
  notAfter: string;
}

/** What an SDS Secret holds: a trust bundle (validation context) or a gateway's certificate. */
export type SidecarSecret = ({ kind: 'bundle' } & TrustBundle) | ({ kind: 'certificate' } & ServingCertificate);

function dataSource(ds: { specifier: { case: string | undefined; value?: unknown } } | undefined): string | undefined {
  const sp = ds?.specifier;
  return sp?.case === 'inlineString' ? (sp.value as string) : sp?.case === 'inlineBytes' ? Buffer.from(sp.value as Uint8Array).toString('utf8') : undefined;
}

/** A tls_certificate Secret: inline PEM chain and key that parse and belong together. */
function decodeCertificate(name: string, t: { certificateChain?: { specifier: { case: string | undefined; value?: unknown } }; privateKey?: { specifier: { case: string | undefined; value?: unknown } } }, p: Problems): ServingCertificate | undefined {
  const certPem = dataSource(t.certificateChain);
  const keyPem = dataSource(t.privateKey);
  if (certPem === undefined) p.add('tls_certificate.certificate_chain', 'must be inline_string or inline_bytes (PEM)');
  if (keyPem === undefined) p.add('tls_certificate.private_key', 'must be inline_string or inline_bytes (PEM)');
  if (certPem === undefined || keyPem === undefined) return undefined;
  const blocks = certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) {
    p.add('tls_certificate.certificate_chain', 'holds no PEM certificate');
    return undefined;
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(blocks[0]!);
    for (const b of blocks.slice(1)) new X509Certificate(b);
  } catch (e) {
    p.add('tls_certificate.certificate_chain', `does not parse: ${(e as Error).message}`);
    return undefined;
  }
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) p.add('tls_certificate.private_key', 'is not the key of the leaf certificate');
  } catch (e) {
    p.add('tls_certificate.private_key', `is not a PEM private key (${(e as Error).message.replace(/\n.*/s, '')})`);
  }
  if (p.errors.length) return undefined;
  const names = (leaf.subjectAltName ?? '').split(', ').filter((x) => x.startsWith('DNS:')).map((x) => x.slice(4));
  return { name, certPem, keyPem, names, notAfter: new Date(leaf.validTo).toISOString() };
}

/** SDS Secret: trust bundles (validation contexts) and gateway certificates (tls_certificate, inline). */
export function decodeSecret(bytes: Uint8Array): Decoded<SidecarSecret> {
  const s = decodeMessage(SecretSchema, bytes);
  const p = new Problems(`Secret/${s.name || '?'}`);
  if (!s.name) p.add('name', 'is required');
  if (s.type.case === 'tlsCertificate') {
    const c = decodeCertificate(s.name, s.type.value, p);
    return { name: s.name, value: c && !p.errors.length ? { kind: 'certificate', ...c } : undefined, errors: p.errors };
  }
  if (s.type.case !== 'validationContext') {
    p.add('type', 'must be validation_context (a trust bundle) or tls_certificate (a gateway certificate)');
    return { name: s.name, errors: p.errors };
  }
  const pem = dataSource(s.type.value.trustedCa);
  if (pem === undefined) {
    p.add('validation_context.trusted_ca', 'must be inline_string or inline_bytes (PEM)');
    return { name: s.name, errors: p.errors };
  }
  const fingerprints: string[] = [];
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) p.add('validation_context.trusted_ca', 'holds no PEM certificate');
  blocks.forEach((b, i) => {
    try {
      const x = new X509Certificate(b);
      if (!x.ca) p.add(`validation_context.trusted_ca[${i}]`, 'is not a CA certificate');
      fingerprints.push(x.fingerprint256);
    } catch (e) {
      p.add(`validation_context.trusted_ca[${i}]`, `does not parse: ${(e as Error).message}`);
    }
  });
  return { name: s.name, value: p.errors.length ? undefined : { kind: 'bundle', name: s.name, pem: blocks.join('\n') + '\n', fingerprints }, errors: p.errors };
}

// ------------------------------------------------------------------------- origin TLS (JWKS)

/** The parts of an origin cluster's TLS context the proxy executes (its own CA, SNI). */
const ORIGIN_TLS_FIELDS = supportedFields({
  'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext': ['common_tls_context', 'sni'],
  'envoy.extensions.transport_sockets.tls.v3.CommonTlsContext': ['validation_context'],
  'envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext': ['trusted_ca'],
});

/** TLS to a server outside the mesh (a JWKS endpoint): its roots, and the name it must present. */
export interface OriginTls {
  /** PEM roots the server's certificate must chain to (never empty: verification is never off). */
  readonly ca: string;
  /** SNI and the name checked against the certificate; '' for an IP literal (checked against the address). */
  readonly sni: string;
}

/**
 * Whether a Cluster reaches a server outside the mesh over TLS with its own roots (the
 * UpstreamTlsContext has an inline validation_context.trusted_ca): the clusters the control
 * plane emits for remote JWKS. The proxy fetches through them and routes no request to them.
 */
export function isOriginCluster(c: Cluster): boolean {
  const any = c.transportSocket?.configType.case === 'typedConfig' ? c.transportSocket.configType.value : undefined;
  if (!any || !isExtensionConfig(any.typeUrl, EXTENSIONS.upstreamTls)) return false;
  const ctx = unpackAny(any, UpstreamTlsContextSchema);
  return ctx?.commonTlsContext?.validationContextType.case === 'validationContext';
}

/** An origin cluster's TLS (isOriginCluster), checked: inline PEM roots, nothing else but SNI. */
export function originTlsOf(c: Cluster, p: Problems): OriginTls | undefined {
  const path = 'transport_socket.typed_config';
  if (c.transportSocketMatches.length) p.add('transport_socket_matches', 'an origin cluster (own trusted_ca) takes one transport_socket');
  const any = c.transportSocket?.configType.case === 'typedConfig' ? c.transportSocket.configType.value : undefined;
  const ctx = any ? unpackAny(any, UpstreamTlsContextSchema) : undefined;
  if (!ctx) {
    p.add(path, 'is not an UpstreamTlsContext');
    return undefined;
  }
  checkSupported(UpstreamTlsContextSchema, ctx, ORIGIN_TLS_FIELDS, p, path);
  const v = ctx.commonTlsContext?.validationContextType;
  const ca = v?.case === 'validationContext' ? dataSource(v.value.trustedCa) : undefined;
  const blocks = ca?.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) {
    p.add(`${path}.common_tls_context.validation_context.trusted_ca`, 'must be inline PEM certificates (the roots that verify the server)');
    return undefined;
  }
  for (const [i, b] of blocks.entries()) {
    try {
      new X509Certificate(b);
    } catch (e) {
      p.add(`${path}.common_tls_context.validation_context.trusted_ca[${i}]`, `does not parse: ${(e as Error).message}`);
    }
  }
  return { ca: blocks.join('\n') + '\n', sni: ctx.sni };
}
