/**
 * The contract of one HTTP filter translation. Each filter Weft emits has one file in this folder
 * exporting one HttpFilterTranslation; filters/index.ts lists them in the order they run, and the
 * translator walks that list to build every listener's http_filters (the router is appended
 * last by listeners.ts) and the filter's typed_per_filter_config on virtual hosts and routes.
 */
import type { Any } from '@bufbuild/protobuf/wkt';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import type { ClientTrafficPolicySpec, GatewayListener, GatewayResource, GRPCRouteRule, HTTPRouteRule, MeshModel, ServicePort, ServiceResource } from '../../config/types.js';

/** The Gateway listener a gateway's HTTP connection manager serves (policies attach to it by targetRefs). */
export interface GatewayTarget {
  readonly gw: GatewayResource;
  readonly listener: GatewayListener;
}

/**
 * Which HTTP connection manager: a sidecar's inbound or outbound listener, a proxyless API
 * listener, or a gateway's listener (edge traffic routed to mesh services, like outbound).
 */
export type ListenerSide = 'inbound' | 'outbound' | 'proxyless' | 'gateway';

export interface ListenerContext {
  readonly model: MeshModel;
  readonly side: ListenerSide;
  /** The node's namespace (gateway: the Gateway's). */
  readonly namespace: string;
  /** Inbound: the service the sidecar fronts. */
  readonly service?: string;
  /** The RouteConfiguration the listener takes its routes from, as built (filters that only
   *  matter when some virtual host or route configures them look here). */
  readonly routes: RouteConfiguration;
  /** Gateway side: the Gateway listener this is. */
  readonly gateway?: GatewayTarget;
  /** A gateway listener's ClientTrafficPolicy (the request limits filters enforce), if one applies. */
  readonly clientTraffic?: ClientTrafficPolicySpec;
}

export interface VirtualHostContext {
  readonly model: MeshModel;
  readonly side: ListenerSide;
  /** The service whose virtual host this is (inbound: the sidecar's own). */
  readonly svc: ServiceResource;
  /** Outbound / proxyless: the service port the virtual host is for; inbound: undefined. */
  readonly port?: ServicePort;
}

export interface RouteRuleContext {
  readonly model: MeshModel;
  /** Routes built for proxyless gRPC clients. */
  readonly proxyless: boolean;
  /** The route resource's namespace (local references resolve there). */
  readonly namespace: string;
  readonly rule: HTTPRouteRule | GRPCRouteRule;
  /** Routes built for a gateway listener: that listener (undefined for mesh and proxyless routes). */
  readonly gateway?: GatewayTarget;
}

export interface HttpFilterTranslation {
  /** The filter's name in http_filters and typed_per_filter_config. */
  readonly name: string;
  /** The entries this filter adds to a listener's http_filters (none when the listener does not use it). */
  listenerFilters(ctx: ListenerContext): HttpFilter[];
  /** Its typed_per_filter_config on a virtual host, if any. */
  virtualHostConfig?(ctx: VirtualHostContext): Any | undefined;
  /** Its typed_per_filter_config on each Envoy Route built from a route rule, if any. */
  routeConfig?(ctx: RouteRuleContext): Any | undefined;
  /**
   * For a filter with several http_filters entries (one per compressor library): each entry's
   * typed_per_filter_config on a route, by entry name.
   */
  routeConfigs?(ctx: RouteRuleContext): Record<string, Any>;
}

/** Whether any virtual host or route of `rc` carries typed_per_filter_config for `name`. */
export function configuredIn(rc: RouteConfiguration, name: string): boolean {
  return rc.virtualHosts.some((vh) => name in vh.typedPerFilterConfig || vh.routes.some((r) => name in r.typedPerFilterConfig));
}
