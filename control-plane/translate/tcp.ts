/**
 * Layer 4 (issue 21): the Listeners that carry TCP connections with Envoy's tcp_proxy network
 * filter instead of the HTTP connection manager.
 *  - A tcp service's sidecar: the `inbound` listener, mTLS (no ALPN) then network RBAC then
 *    tcp_proxy to the local app cluster.
 *  - Every sidecar whose Service declares `upstreams`: one listener `outbound|tcp|<localPort>`
 *    per upstream on bindAddress:localPort, tcp_proxy to the upstream's cluster (the mesh
 *    transport socket match on that cluster gives mTLS with no ALPN).
 *  - A gateway's TCP listener (one chain: tcp_proxy to the TCPRoute's backends) and TLS
 *    passthrough listener (tls_inspector reads the SNI; one chain per server name, never
 *    decrypting).
 * The builders are pure; translator.ts decides which a node gets.
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { EXTENSIONS, typedExtension } from '../../common/extensions.js';
import { TYPE_URL } from '../../common/xds-types.js';
import { TrafficDirection } from '../../proto/gen/envoy/config/core/v3/base_pb.js';
import type { FilterChainSchema } from '../../proto/gen/envoy/config/listener/v3/listener_components_pb.js';
import { ListenerSchema } from '../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import type { MeshModel, MtlsMode, ServiceUpstream, TrafficPolicySpec } from '../config/types.js';
import { makeResource, type Resource } from '../xds/snapshot.js';
import { inboundCluster } from './clusters.js';
import { networkRbacFilters } from './filters/rbac.js';
import { INBOUND_LISTENER, clusterName, outboundTcpListenerName } from './names.js';
import { duration, socketAddress } from './proto-helpers.js';
import { ROOTCA_SECRET, inboundChains, type MeshTlsFloor } from './tls.js';

type FilterChainInit = MessageInitShape<typeof FilterChainSchema>;
type NetworkFilter = ReturnType<typeof typedExtension>;

/** A connection with no bytes either way for this long is closed (Envoy's own tcp_proxy default). */
export const DEFAULT_TCP_IDLE_MS = 3_600_000;
/** Connect attempts when no TrafficPolicy sets retry: the default of retry.attempts (which counts the first, as for HTTP), so `retry: {}` and no retry agree. */
export const DEFAULT_CONNECT_ATTEMPTS = 2;

/** A weighted backend cluster of a tcp_proxy. */
export interface TcpBackend {
  name: string;
  weight: number;
}

export interface TcpProxyOptions {
  idleTimeoutMs?: number;
  maxConnectAttempts?: number;
  /** RingHash on the source address (TrafficPolicy loadBalancer RingHash, hashOn sourceIP). */
  hashSourceIp?: boolean;
}

/** An envoy.filters.network.tcp_proxy filter: one cluster, or weighted_clusters when several backends share the connections. */
export function tcpProxyFilter(statPrefix: string, backends: readonly TcpBackend[], opts: TcpProxyOptions = {}): NetworkFilter {
  const clusterSpecifier = backends.length === 1
    ? { case: 'cluster' as const, value: backends[0]!.name }
    : { case: 'weightedClusters' as const, value: { clusters: backends.map((b) => ({ name: b.name, weight: b.weight })) } };
  return typedExtension(EXTENSIONS.tcpProxy, {
    statPrefix,
    clusterSpecifier,
    ...(opts.idleTimeoutMs !== undefined ? { idleTimeout: duration(opts.idleTimeoutMs) } : {}),
    ...(opts.maxConnectAttempts !== undefined ? { maxConnectAttempts: opts.maxConnectAttempts } : {}),
    ...(opts.hashSourceIp ? { hashPolicy: [{ policySpecifier: { case: 'sourceIp' as const, value: {} } }] } : {}),
  });
}

const clusterRefs = (names: Iterable<string>) => [...new Set(names)].sort().map((name) => ({ typeUrl: TYPE_URL.cluster, name }));

/**
 * The sidecar of a tcp service: its local app cluster and the `inbound` listener on
 * 0.0.0.0:`port`, whose chains (per mTLS mode) offer no ALPN and run the service's network RBAC
 * filters, then tcp_proxy to the app. No RouteConfiguration: nothing is routed.
 */
export function inboundTcpResources(model: MeshModel, namespace: string, service: string, appPort: number, port: number, mode: MtlsMode, floor: MeshTlsFloor): Resource[] {
  const cluster = inboundCluster(namespace, service, appPort, 'tcp');
  const filters = [...networkRbacFilters(model, namespace, service), tcpProxyFilter('inbound', [{ name: cluster.name, weight: 1 }])];
  const msg = create(ListenerSchema, {
    name: INBOUND_LISTENER,
    address: socketAddress('0.0.0.0', port),
    filterChains: inboundChains(mode, filters, floor, []),
  });
  const refs = [{ typeUrl: TYPE_URL.cluster, name: cluster.name }, ...(mode !== 'DISABLE' ? [{ typeUrl: TYPE_URL.secret, name: ROOTCA_SECRET }] : [])];
  return [cluster, makeResource(TYPE_URL.listener, INBOUND_LISTENER, ListenerSchema, msg, refs)];
}

/**
 * One upstream of a Service (`port`: the upstream's tcp port, resolved): the listener its
 * instances' apps connect to, carrying each connection to an instance of the upstream. The
 * upstream's TrafficPolicy gives the idle timeout, the connect attempts (retry.attempts, the first included) and,
 * for RingHash, the source address as the hash key.
 */
export function outboundTcpListener(u: ServiceUpstream, port: number, policy: TrafficPolicySpec | undefined): Resource {
  const name = outboundTcpListenerName(u.localPort);
  const cluster = clusterName(u.namespace, u.service, port);
  const proxy = tcpProxyFilter(name, [{ name: cluster, weight: 1 }], { idleTimeoutMs: policy?.connectionPool?.idleTimeoutMs ?? DEFAULT_TCP_IDLE_MS, ...connectOptions([policy]) });
  const msg = create(ListenerSchema, {
    name,
    address: socketAddress(u.bindAddress, u.localPort),
    trafficDirection: TrafficDirection.OUTBOUND,
    filterChains: [{ filters: [proxy] }],
  });
  return makeResource(TYPE_URL.listener, name, ListenerSchema, msg, clusterRefs([cluster]));
}

/**
 * What the backends' TrafficPolicies say about connecting: connect attempts (retry.attempts, the
 * first included; the most any backend asks for) and, when any balances by RingHash, the source
 * address as the hash key.
 */
export function connectOptions(policies: ReadonlyArray<TrafficPolicySpec | undefined>): Pick<TcpProxyOptions, 'maxConnectAttempts' | 'hashSourceIp'> {
  return {
    maxConnectAttempts: Math.max(...policies.map((p) => p?.retry?.attempts ?? DEFAULT_CONNECT_ATTEMPTS)),
    hashSourceIp: policies.some((p) => p?.loadBalancer.type === 'RingHash'),
  };
}

/** One chain of a gateway layer-4 listener: its SNI names (TLS; empty: any SNI or none), filters, and the clusters they name. */
export interface L4Chain {
  serverNames?: string[];
  filters: NetworkFilter[];
  clusters: string[];
}

/**
 * A gateway Listener on 0.0.0.0:`port` for TCP (one chain, every connection) or TLS passthrough
 * (tls_inspector reads the ClientHello; a chain per SNI name, matched on transport protocol tls;
 * no transport socket: the bytes go through as they came).
 */
export function gatewayL4Listener(name: string, port: number, protocol: 'TCP' | 'TLS', chains: readonly L4Chain[]): Resource {
  const filterChains: FilterChainInit[] = chains.map((c) => ({
    ...(protocol === 'TLS' ? { filterChainMatch: { serverNames: c.serverNames ?? [], transportProtocol: 'tls' } } : {}),
    filters: c.filters,
  }));
  const msg = create(ListenerSchema, {
    name,
    address: socketAddress('0.0.0.0', port),
    ...(protocol === 'TLS' ? { listenerFilters: [typedExtension(EXTENSIONS.tlsInspector, {})] } : {}),
    filterChains,
  });
  return makeResource(TYPE_URL.listener, name, ListenerSchema, msg, clusterRefs(chains.flatMap((c) => c.clusters)));
}
