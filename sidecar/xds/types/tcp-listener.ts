/**
 * Listeners whose filter chains end in envoy.filters.network.tcp_proxy: layer-4 listeners. The
 * sidecar's inbound listener of a TCP app (mTLS, then plain to the app), its outbound listeners
 * for the TCP services it calls (`outbound|tcp|<port>`), and a gateway's TCP and TLS passthrough
 * listeners (tls_inspector reads the SNI; chains are chosen by server_names; nothing is decrypted).
 *
 * Executed: listener_filters (tls_inspector only); per chain connection_limit, network RBAC
 * (rules; principals and permissions without HTTP conditions) and tcp_proxy (stat_prefix,
 * cluster or weighted_clusters, idle_timeout, max_connect_attempts, hash_policy source_ip,
 * max_downstream_connection_duration). Any other field is refused with its path.
 */
import { unpackAny } from '../../../common/wire-decode.js';
import { anyUnpack, type Any } from '@bufbuild/protobuf/wkt';
import type { Listener } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import type { Filter } from '../../../proto/gen/envoy/config/listener/v3/listener_components_pb.js';
import { TcpProxySchema } from '../../../proto/gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.js';
import { RBACSchema as NetworkRbacSchema, RBAC_EnforcementType } from '../../../proto/gen/envoy/extensions/filters/network/rbac/v3/rbac_pb.js';
import { TlsInspectorSchema } from '../../../proto/gen/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector_pb.js';
import { EXTENSIONS, isExtensionConfig } from '../../../common/extensions.js';
import { compileRules, engineOf, type CompiledFilter, type RbacEngine } from '../../http/filters/rbac.js';
import { checkDuration, durationMs, type Problems } from './decoded.js';
import { checkSupported, supportedFields } from './supported.js';
import { connectionLimitOf } from './connection-limit.js';
import { inboundTransportOf, type InboundTransport } from './tls.js';

/** What tcp_proxy does with one connection. */
export interface TcpProxyConfig {
  readonly statPrefix: string;
  /** One cluster, or weighted ones (picked per connection in proportion to weight). */
  readonly clusters: ReadonlyArray<{ readonly name: string; readonly weight: number }>;
  readonly totalWeight: number;
  /** No byte either way for this long closes the connection (0: never). Envoy's default is 1 h. */
  readonly idleTimeoutMs: number;
  /** Hosts tried before giving up on connecting (Envoy's default 1). */
  readonly maxConnectAttempts: number;
  /** Ring hash key: the downstream's source address. */
  readonly hashSourceIp: boolean;
  /** A connection is closed after this long, busy or not (0: never). */
  readonly maxDurationMs: number;
}

export interface TcpChain {
  /** TLS passthrough: SNI names this chain takes (lower case, `*.suffix` wildcards); empty: the default chain. */
  readonly serverNames: readonly string[];
  /** Network RBAC filters in order (DENY then ALLOW as the control plane emits them); undefined: none. */
  readonly rbac: RbacEngine | undefined;
  readonly proxy: TcpProxyConfig;
}

export interface TcpListenerConfig {
  readonly kind: 'tcp';
  readonly listener: Listener;
  /**
   * Sidecar inbound: TLS (mTLS with the workload certificate) and/or plaintext; every chain carries
   * the same filters. Others: plaintext (tls undefined).
   */
  readonly transport: InboundTransport;
  /** tls_inspector: the chain is chosen by the ClientHello's SNI and the bytes pass through untouched. */
  readonly passthrough: boolean;
  readonly chains: readonly TcpChain[];
  /** connection_limit max_connections (the first chain's; chains must agree). */
  readonly maxConnections: number | undefined;
}

const TCP_PROXY_FIELDS = supportedFields({
  'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy': ['stat_prefix', 'cluster', 'weighted_clusters', 'idle_timeout', 'max_connect_attempts', 'hash_policy', 'max_downstream_connection_duration'],
  'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster': ['clusters'],
  'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight': ['name', 'weight'],
  'envoy.type.v3.HashPolicy': ['source_ip'],
  'envoy.type.v3.HashPolicy.SourceIp': [],
});
const NETWORK_RBAC_FIELDS = supportedFields({ 'envoy.extensions.filters.network.rbac.v3.RBAC': ['stat_prefix', 'rules', 'enforcement_type'] });

const HOST_OR_WILDCARD = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
/** Envoy's default tcp_proxy idle timeout. */
const DEFAULT_IDLE_MS = 3_600_000;

const typedConfig = (f: Filter | undefined): Any | undefined => (f?.configType.case === 'typedConfig' ? f.configType.value : undefined);

/** Whether a listener is a layer-4 one: its first chain holds tcp_proxy (which must end it). */
export function isTcpListener(l: Listener): boolean {
  return (l.filterChains[0]?.filters ?? []).some((f) => {
    const any = typedConfig(f);
    return !!any && isExtensionConfig(any.typeUrl, EXTENSIONS.tcpProxy);
  });
}

function tcpProxyOf(any: Any, p: Problems, path: string): TcpProxyConfig | undefined {
  const t = unpackAny(any, TcpProxySchema);
  if (!t) {
    p.add(path, 'is not a TcpProxy');
    return undefined;
  }
  const before = p.errors.length;
  checkSupported(TcpProxySchema, t, TCP_PROXY_FIELDS, p, path);
  if (!t.statPrefix) p.add(`${path}.stat_prefix`, 'is required');
  let clusters: Array<{ name: string; weight: number }> = [];
  const cs = t.clusterSpecifier;
  if (cs.case === 'cluster') {
    if (!cs.value) p.add(`${path}.cluster`, 'is required');
    clusters = [{ name: cs.value, weight: 1 }];
  } else if (cs.case === 'weightedClusters') {
    cs.value.clusters.forEach((c, i) => {
      if (!c.name) p.add(`${path}.weighted_clusters.clusters[${i}].name`, 'is required');
      if (c.weight < 1) p.add(`${path}.weighted_clusters.clusters[${i}].weight`, 'must be at least 1');
      if (c.metadataMatch) p.add(`${path}.weighted_clusters.clusters[${i}].metadata_match`, 'is not supported by the Weft sidecar (refused rather than ignored)');
    });
    if (!cs.value.clusters.length) p.add(`${path}.weighted_clusters.clusters`, 'must not be empty');
    clusters = cs.value.clusters.map((c) => ({ name: c.name, weight: c.weight }));
  } else p.add(path, 'needs cluster or weighted_clusters');
  checkDuration(p, `${path}.idle_timeout`, t.idleTimeout);
  checkDuration(p, `${path}.max_downstream_connection_duration`, t.maxDownstreamConnectionDuration);
  const attempts = t.maxConnectAttempts ?? 1;
  if (attempts < 1 || attempts > 100) p.add(`${path}.max_connect_attempts`, 'must be 1..100');
  t.hashPolicy.forEach((h, i) => {
    if (h.policySpecifier.case !== 'sourceIp') p.add(`${path}.hash_policy[${i}]`, 'only source_ip is supported');
  });
  if (t.hashPolicy.length > 1) p.add(`${path}.hash_policy`, 'at most one hash policy (source_ip)');
  if (p.errors.length > before) return undefined;
  return Object.freeze({
    statPrefix: t.statPrefix,
    clusters: Object.freeze(clusters.map((c) => Object.freeze(c))),
    totalWeight: clusters.reduce((s, c) => s + c.weight, 0),
    // An explicit 0 turns the idle timeout off (Envoy); unset is Envoy's hour.
    idleTimeoutMs: t.idleTimeout ? durationMs(t.idleTimeout, 0) : DEFAULT_IDLE_MS,
    maxConnectAttempts: attempts,
    hashSourceIp: t.hashPolicy.length > 0,
    maxDurationMs: durationMs(t.maxDownstreamConnectionDuration, 0),
  });
}

function networkRbacOf(any: Any, p: Problems, path: string): CompiledFilter | undefined {
  const r = unpackAny(any, NetworkRbacSchema);
  if (!r) {
    p.add(path, 'is not a network RBAC');
    return undefined;
  }
  checkSupported(NetworkRbacSchema, r, NETWORK_RBAC_FIELDS, p, path);
  // Decided once per connection, before any byte is proxied (Envoy's ONE_TIME_ON_FIRST_BYTE,
  // except that a server-first upstream never speaks before the decision either).
  if (r.enforcementType !== RBAC_EnforcementType.ONE_TIME_ON_FIRST_BYTE) p.add(`${path}.enforcement_type`, 'only ONE_TIME_ON_FIRST_BYTE is supported');
  return compileRules(r, p, path, true);
}

/** One chain's filters: [connection_limit?] [network RBAC...] tcp_proxy. */
function chainOf(filters: readonly Filter[], p: Problems, path: string): { proxy: TcpProxyConfig | undefined; rbac: CompiledFilter[]; maxConnections: number | undefined } {
  const rbac: CompiledFilter[] = [];
  let proxy: TcpProxyConfig | undefined;
  let maxConnections: number | undefined;
  filters.forEach((f, i) => {
    const fp = `${path}.filters[${i}]`;
    const any = typedConfig(f);
    const last = i === filters.length - 1;
    if (!any) return p.add(`${fp}.typed_config`, `network filter '${f.name}' has no typed_config`);
    if (isExtensionConfig(any.typeUrl, EXTENSIONS.tcpProxy)) {
      if (!last) return p.add(fp, 'tcp_proxy must be the last filter of the chain');
      proxy = tcpProxyOf(any, p, `${fp}.typed_config`);
    } else if (isExtensionConfig(any.typeUrl, EXTENSIONS.networkRbac)) {
      if (proxy) return p.add(fp, 'network RBAC must come before tcp_proxy');
      const c = networkRbacOf(any, p, `${fp}.typed_config`);
      if (c) rbac.push(c);
    } else if (isExtensionConfig(any.typeUrl, EXTENSIONS.connectionLimit)) {
      if (i !== 0) p.add(fp, 'connection_limit must be the first filter');
      maxConnections = connectionLimitOf(any, p, fp) ?? maxConnections;
    } else {
      p.add(`${fp}.typed_config.type_url`, `network filter '${f.name}' (${any.typeUrl}) is not implemented by the Weft sidecar in a TCP chain (connection_limit, network RBAC, tcp_proxy)`);
    }
  });
  // A chain without one would be dropped, and its SNI names would fall to the default chain.
  if (!proxy && !filters.some((f) => { const a = typedConfig(f); return !!a && isExtensionConfig(a.typeUrl, EXTENSIONS.tcpProxy); })) p.add(`${path}.filters`, 'must end with tcp_proxy');
  return { proxy, rbac, maxConnections };
}

/** Decodes a layer-4 listener (isTcpListener said so); errors go to `p`. */
export function decodeTcpListener(l: Listener, p: Problems): TcpListenerConfig | undefined {
  const before = p.errors.length;
  let passthrough = false;
  l.listenerFilters.forEach((lf, i) => {
    const lp = `listener_filters[${i}]`;
    const any = lf.configType.case === 'typedConfig' ? lf.configType.value : undefined;
    if (!any || !isExtensionConfig(any.typeUrl, EXTENSIONS.tlsInspector)) return p.add(`${lp}.typed_config`, `listener filter '${lf.name}' is not supported (${EXTENSIONS.tlsInspector.name} only)`);
    const t = unpackAny(any, TlsInspectorSchema);
    if (t && (t.enableJa3Fingerprinting !== undefined || t.initialReadBufferSize !== undefined)) p.add(`${lp}.typed_config`, 'tls_inspector options are not supported');
    passthrough = true;
  });
  const chains: TcpChain[] = [];
  const names = new Map<string, number>();
  let defaults = 0;
  let maxConnections: number | undefined;
  l.filterChains.forEach((fc, i) => {
    const path = `filter_chains[${i}]`;
    const c = chainOf(fc.filters, p, path);
    if (i === 0) maxConnections = c.maxConnections;
    else if (c.maxConnections !== maxConnections) p.add(`${path}.filters`, "connection_limit must equal filter_chains[0]'s: connections are counted before a chain is chosen");
    const m = fc.filterChainMatch;
    const serverNames = (m?.serverNames ?? []).map((n) => n.toLowerCase());
    if (passthrough) {
      if (fc.transportSocket) p.add(`${path}.transport_socket`, 'a TLS passthrough chain never terminates TLS (no transport socket)');
      if (m?.transportProtocol && m.transportProtocol !== 'tls') p.add(`${path}.filter_chain_match.transport_protocol`, "a passthrough chain takes TLS ('tls') only");
      serverNames.forEach((n, j) => {
        if (!HOST_OR_WILDCARD.test(n)) p.add(`${path}.filter_chain_match.server_names[${j}]`, `'${n}' is not a host name or *.suffix wildcard`);
        const other = names.get(n);
        if (other !== undefined) p.add(`${path}.filter_chain_match.server_names[${j}]`, `'${n}' is also matched by filter_chains[${other}]`);
        else names.set(n, i);
      });
      if (!serverNames.length) defaults++;
    } else if (serverNames.length) p.add(`${path}.filter_chain_match.server_names`, `SNI matching needs the ${EXTENSIONS.tlsInspector.name} listener filter`);
    if (c.proxy) chains.push({ serverNames: passthrough ? serverNames : [], rbac: c.rbac.length ? engineOf(c.rbac) : undefined, proxy: c.proxy });
  });
  if (!l.filterChains.length) p.add('filter_chains', 'a TCP listener needs a filter chain');
  if (defaults > 1) p.add('filter_chains', `${defaults} chains have no server_names; at most one may be the default`);
  // Not passthrough: the chains differ in transport only (the inbound listener: TLS and/or plaintext).
  let transport: InboundTransport = { tls: undefined, plaintext: true };
  if (!passthrough) {
    transport = inboundTransportOf(l, p, []);
    const first = l.filterChains[0]?.filters ?? [];
    for (let i = 1; i < l.filterChains.length; i++) {
      const fs = l.filterChains[i]!.filters;
      const same = fs.length === first.length && fs.every((f, j) => {
        const a = typedConfig(f);
        const b = typedConfig(first[j]);
        return !!a && !!b && a.typeUrl === b.typeUrl && Buffer.compare(Buffer.from(a.value), Buffer.from(b.value)) === 0;
      });
      if (!same) p.add(`filter_chains[${i}].filters`, "must equal filter_chains[0]'s (a TCP listener's chains differ in transport only, unless chosen by SNI)");
    }
  }
  if (p.errors.length > before) return undefined;
  return { kind: 'tcp', listener: l, transport, passthrough, chains, maxConnections };
}
