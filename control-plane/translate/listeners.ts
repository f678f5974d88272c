/**
 * Listeners and route configurations. Proxyless gRPC clients get one API listener per host form
 * they may dial (`xds:///orders` asks LDS for `orders`); sidecars get an outbound and an inbound
 * listener. All of them carry an HttpConnectionManager that takes routes over RDS and ends in the
 * router filter.
 */
import { create } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS, packExtension, typedExtension } from '../../common/extensions.js';
import { TYPE_URL } from '../../common/xds-types.js';
import { ListenerSchema } from '../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema } from '../../proto/gen/envoy/config/route/v3/route_pb.js';
import type { Route } from '../../proto/gen/envoy/config/route/v3/route_components_pb.js';
import {
  HttpConnectionManagerSchema,
  HttpConnectionManager_CodecType,
  HttpConnectionManager_PathWithEscapedSlashesAction,
} from '../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { EscapedSlashesAction, MeshConfigSpec } from '../config/types.js';
import { makeResource, type Resource } from '../xds/snapshot.js';
import { ADS_SOURCE, socketAddress } from './proto-helpers.js';
import type { HttpFilter } from '../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { MtlsMode } from '../config/types.js';
import { ROOTCA_SECRET, inboundChains, terminatingTls } from './tls.js';
import type { HcmLimits } from './client-limits.js';

/** Where a sidecar sends its spans (OTLP/HTTP) and as which service. */
export interface TracingTarget {
  endpoint: string;
  serviceName: string;
}

function hcm(statPrefix: string, routeName: string, mesh: MeshConfigSpec | undefined, filters: HttpFilter[] = [], tracing?: TracingTarget, limits: HcmLimits = {}) {
  const provider = tracing
    ? typedExtension(EXTENSIONS.openTelemetry, {
        httpService: { httpUri: { uri: tracing.endpoint, httpUpstreamType: { case: 'cluster', value: 'weft-otlp' }, timeout: { seconds: 5n } } },
        serviceName: tracing.serviceName,
      })
    : undefined;
  return create(HttpConnectionManagerSchema, {
    statPrefix,
    codecType: HttpConnectionManager_CodecType.AUTO,
    routeSpecifier: { case: 'rds', value: { routeConfigName: routeName, configSource: ADS_SOURCE } },
    httpFilters: [...filters, typedExtension(EXTENSIONS.router)],
    ...(mesh ? { tracing: { randomSampling: { value: mesh.tracing.samplingPercent }, ...(provider ? { provider } : {}) } } : {}),
    // How paths are read before routing and authorization, and which Upgrades go through.
    ...(mesh
      ? {
          normalizePath: mesh.http.normalizePath,
          mergeSlashes: mesh.http.mergeSlashes,
          pathWithEscapedSlashesAction: ESCAPED_SLASHES[mesh.http.escapedSlashes],
          upgradeConfigs: mesh.http.upgrades.map((upgradeType) => ({ upgradeType })),
        }
      : {}),
    // A gateway listener's ClientTrafficPolicy (client-limits.ts).
    ...limits,
  });
}

const ESCAPED_SLASHES: Record<EscapedSlashesAction, HttpConnectionManager_PathWithEscapedSlashesAction> = {
  KeepUnchanged: HttpConnectionManager_PathWithEscapedSlashesAction.KEEP_UNCHANGED,
  Reject: HttpConnectionManager_PathWithEscapedSlashesAction.REJECT_REQUEST,
  UnescapeAndRedirect: HttpConnectionManager_PathWithEscapedSlashesAction.UNESCAPE_AND_REDIRECT,
  UnescapeAndForward: HttpConnectionManager_PathWithEscapedSlashesAction.UNESCAPE_AND_FORWARD,
};

/** An API listener (no socket) for gRPC proxyless clients; `filters`: HTTP filters before the router. */
export function apiListener(name: string, routeName: string, filters: HttpFilter[] = []): Resource {
  const msg = create(ListenerSchema, { name, apiListener: { apiListener: packExtension(EXTENSIONS.httpConnectionManager, hcm(name, routeName, undefined, filters)) } });
  return makeResource(TYPE_URL.listener, name, ListenerSchema, msg, [{ typeUrl: TYPE_URL.route, name: routeName }]);
}

/**
 * A socket listener for a sidecar (outbound on loopback, inbound for peers). `mtls`: the inbound
 * side's mode (filter chains for TLS and/or plaintext); `filters`: HTTP filters before the router
 * (e.g. RBAC on the inbound side).
 */
export function socketListener(
  name: string,
  host: string,
  port: number,
  routeName: string,
  mesh: MeshConfigSpec,
  opts: { mtls?: MtlsMode; filters?: HttpFilter[]; tracing?: TracingTarget; limits?: HcmLimits; networkFilters?: ReturnType<typeof typedExtension>[] } = {},
): Resource {
  const filters = [...(opts.networkFilters ?? []), typedExtension(EXTENSIONS.httpConnectionManager, hcm(name, routeName, mesh, opts.filters, opts.tracing, opts.limits))];
  const msg = create(ListenerSchema, {
    name,
    address: socketAddress(host, port),
    // Trace header format (w3c or b3): Envoy has no field for it, so it travels as listener metadata.
    metadata: { filterMetadata: { weft: { tracePropagation: mesh.tracing.propagation } } },
    filterChains: opts.mtls ? inboundChains(opts.mtls, filters, mesh.mtls.minProtocolVersion) : [{ filters }],
  });
  const refs = [{ typeUrl: TYPE_URL.route, name: routeName }, ...(opts.mtls && opts.mtls !== 'DISABLE' ? [{ typeUrl: TYPE_URL.secret, name: ROOTCA_SECRET }] : [])];
  return makeResource(TYPE_URL.listener, name, ListenerSchema, msg, refs);
}

/** One Gateway listener's share of a gateway socket: its HCM, and for HTTPS its SNI names and certificates. */
export interface GatewayChain {
  /** The Gateway listener's name: the HCM's stat prefix and RouteConfiguration `gateway.<name>`. */
  routeName: string;
  filters: HttpFilter[];
  tracing?: TracingTarget;
  /** HTTPS: server_names to match (empty: the port's default chain) and SDS certificate names. */
  tls?: { serverNames: string[]; certificates: string[] };
  /** A ClientTrafficPolicy's HCM limits, and its connection_limit filter before the HCM. */
  limits?: HcmLimits;
  networkFilters?: ReturnType<typeof typedExtension>[];
}

/**
 * A gateway Listener on 0.0.0.0:`port`: one filter chain per Gateway listener on that port, each
 * with its own HttpConnectionManager. HTTPS chains terminate TLS (TLS 1.2 and 1.3, ALPN h2 and
 * http/1.1) with the certificates they name over SDS and are told apart by SNI (server_names).
 */
export function gatewayListener(name: string, port: number, chains: GatewayChain[], mesh: MeshConfigSpec): Resource {
  const msg = create(ListenerSchema, {
    name,
    address: socketAddress('0.0.0.0', port),
    metadata: { filterMetadata: { weft: { tracePropagation: mesh.tracing.propagation } } },
    filterChains: chains.map((c) => ({
      ...(c.tls ? { filterChainMatch: { serverNames: c.tls.serverNames } } : {}),
      filters: [...(c.networkFilters ?? []), typedExtension(EXTENSIONS.httpConnectionManager, hcm(c.routeName, c.routeName, mesh, c.filters, c.tracing, c.limits))],
      ...(c.tls ? { transportSocket: typedExtension(EXTENSIONS.downstreamTls, terminatingTls(c.tls.certificates)) } : {}),
    })),
  });
  const refs = [...chains.map((c) => ({ typeUrl: TYPE_URL.route, name: c.routeName })), ...chains.flatMap((c) => c.tls?.certificates ?? []).map((n) => ({ typeUrl: TYPE_URL.secret, name: n }))];
  return makeResource(TYPE_URL.listener, name, ListenerSchema, msg, refs);
}

export interface VirtualHostInit {
  name: string;
  domains: string[];
  routes: Route[];
  typedPerFilterConfig?: Record<string, Any>;
}

/** A RouteConfiguration; `clusters` are the names its routes reference (for consistency refs). */
export function routeConfiguration(name: string, vhosts: VirtualHostInit[], clusters: Iterable<string>): Resource {
  const msg = create(RouteConfigurationSchema, { name, virtualHosts: vhosts });
  return makeResource(TYPE_URL.route, name, RouteConfigurationSchema, msg, [...new Set(clusters)].sort().map((c) => ({ typeUrl: TYPE_URL.cluster, name: c })));
}
