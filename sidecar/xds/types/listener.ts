/** Listener resources: the sidecar needs one HttpConnectionManager taking routes over RDS. */
import { unpackAny, decodeMessage } from '../../../common/wire-decode.js';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { ListenerSchema, type Listener } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import type { Filter } from '../../../proto/gen/envoy/config/listener/v3/listener_components_pb.js';
import { connectionLimitOf } from './connection-limit.js';
import {
  HttpConnectionManagerSchema,
  type HttpConnectionManager,
} from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { Problems, type Decoded } from './decoded.js';
import { inboundTransportOf, servesUserCertificates, terminatingTlsOf, type InboundTransport, type TerminatingTls } from './tls.js';
import type { Any } from '@bufbuild/protobuf/wkt';
import { filterFactory } from '../../http/filters/index.js';
import type { FilterSpec } from '../../http/filter.js';
import { OpenTelemetryConfigSchema } from '../../../proto/gen/envoy/config/trace/v3/opentelemetry_pb.js';
import { HttpConnectionManager_PathWithEscapedSlashesAction as Slashes, type HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { RouterSchema } from '../../../proto/gen/envoy/extensions/filters/http/router/v3/router_pb.js';
import { EscapedSlashes, type PathOptions } from '../../http/uri.js';
import { checkSupported, LISTENER_FIELDS, supportedFields } from './supported.js';
import { EXTENSIONS, isExtensionConfig } from '../../../common/extensions.js';
import type { TracingConfig } from '../../telemetry/tracing.js';
import { decodeTcpListener, isTcpListener, type TcpListenerConfig } from './tcp-listener.js';

export type { TracingConfig } from '../../telemetry/tracing.js';

/** The router's own options: none is executed, so none may be set. */
const ROUTER_FIELDS = supportedFields({ 'envoy.extensions.filters.http.router.v3.Router': [] });

const SLASHES: Partial<Record<Slashes, EscapedSlashes>> = {
  [Slashes.IMPLEMENTATION_SPECIFIC_DEFAULT]: EscapedSlashes.KeepUnchanged,
  [Slashes.KEEP_UNCHANGED]: EscapedSlashes.KeepUnchanged,
  [Slashes.REJECT_REQUEST]: EscapedSlashes.Reject,
  [Slashes.UNESCAPE_AND_REDIRECT]: EscapedSlashes.UnescapeAndRedirect,
  [Slashes.UNESCAPE_AND_FORWARD]: EscapedSlashes.UnescapeAndForward,
};

/**
 * Walks `http_filters` in order and parses each filter's config with its factory (by typed_config
 * type URL; filters/index.ts). A filter the sidecar does not execute is refused unless it is
 * `is_optional` (then it is left out); `disabled` keeps it out of chains but for the routes whose
 * typed_per_filter_config turns it on; the router must come last and ends every chain. Envoy and
 * grpc-js-xds refuse the same way: an auth filter accepted and skipped would fail open.
 */
function filtersOf(filters: readonly HttpFilter[], p: Problems, path: string): FilterSpec[] {
  const out: FilterSpec[] = [];
  filters.forEach((f, i) => {
    const fp = `${path}.http_filters[${i}]`;
    const any = f.configType.case === 'typedConfig' ? f.configType.value : undefined;
    if (!f.name) p.add(`${fp}.name`, 'is required');
    if (!any) {
      if (!f.isOptional) p.add(`${fp}.typed_config`, `filter '${f.name}' has no typed_config; the sidecar identifies filters by their config type`);
      return;
    }
    if (isExtensionConfig(any.typeUrl, EXTENSIONS.router)) {
      if (i !== filters.length - 1) p.add(fp, 'the router must be the last filter');
      if (f.disabled) p.add(`${fp}.disabled`, 'the router cannot be disabled');
      const r = unpackAny(any, RouterSchema);
      if (r) checkSupported(RouterSchema, r, ROUTER_FIELDS, p, `${fp}.typed_config`);
      return;
    }
    const factory = filterFactory(any.typeUrl);
    if (!factory) {
      if (!f.isOptional) p.add(`${fp}.typed_config.type_url`, `filter '${f.name}' (${any.typeUrl}) is not implemented by the Weft sidecar; mark it is_optional to run without it`);
      return;
    }
    const before = p.errors.length;
    const config = factory.parse(any, p, `${fp}.typed_config`);
    if (p.errors.length === before) out.push(f.disabled ? { name: f.name, factory, config, disabled: true } : { name: f.name, factory, config });
  });
  return out;
}

function pathOptionsOf(hcm: HttpConnectionManager, p: Problems, path: string): PathOptions {
  const escapedSlashes = SLASHES[hcm.pathWithEscapedSlashesAction];
  if (escapedSlashes === undefined) p.add(`${path}.path_with_escaped_slashes_action`, `unsupported value ${hcm.pathWithEscapedSlashesAction}`);
  return Object.freeze({ normalize: hcm.normalizePath ?? false, mergeSlashes: hcm.mergeSlashes, escapedSlashes: escapedSlashes ?? EscapedSlashes.Reject });
}

/** Upgrade types enabled on the listener (Envoy: listed and not `enabled: false`). */
function upgradesOf(hcm: HttpConnectionManager, p: Problems, path: string): ReadonlySet<string> {
  const out = new Set<string>();
  hcm.upgradeConfigs.forEach((u, i) => {
    const t = u.upgradeType.toLowerCase();
    if (!t) p.add(`${path}.upgrade_configs[${i}].upgrade_type`, 'is required');
    else if (t === 'connect' || t === 'h2c') p.add(`${path}.upgrade_configs[${i}].upgrade_type`, `'${u.upgradeType}' is not supported (CONNECT is refused, h2c is never forwarded)`);
    if (u.filters.length) p.add(`${path}.upgrade_configs[${i}].filters`, 'per-upgrade filter chains are not supported');
    if (u.enabled !== false) out.add(t);
  });
  return out;
}

function tracingOf(hcm: HttpConnectionManager, l: Listener, p: Problems, path: string): TracingConfig | undefined {
  const t = hcm.tracing;
  if (!t) return undefined;
  const meta = l.metadata?.filterMetadata.weft as { tracePropagation?: unknown } | undefined;
  const propagation = meta?.tracePropagation === 'b3' ? 'b3' : 'w3c';
  const samplingPercent = t.randomSampling?.value ?? 100;
  if (!(samplingPercent >= 0 && samplingPercent <= 100)) p.add(`${path}.tracing.random_sampling.value`, 'must be 0..100');
  let endpoint: string | undefined;
  let serviceName = '';
  const prov = t.provider;
  if (prov) {
    const any = prov.configType.case === 'typedConfig' ? prov.configType.value : undefined;
    if (prov.name !== EXTENSIONS.openTelemetry.name || !any || !isExtensionConfig(any.typeUrl, EXTENSIONS.openTelemetry)) {
      p.add(`${path}.tracing.provider`, `unsupported tracer '${prov.name}' (envoy.tracers.opentelemetry with an OpenTelemetryConfig)`);
    } else {
      const oc = unpackAny(any, OpenTelemetryConfigSchema);
      if (oc?.grpcService) p.add(`${path}.tracing.provider.typed_config.grpc_service`, 'OTLP/gRPC export is not supported; use http_service (OTLP/HTTP)');
      const uri = oc?.httpService?.httpUri?.uri ?? '';
      if (!/^https?:\/\/[^\s]+$/.test(uri)) p.add(`${path}.tracing.provider.typed_config.http_service.http_uri.uri`, `'${uri}' is not an http(s) URL`);
      else endpoint = uri;
      serviceName = oc?.serviceName ?? '';
    }
  }
  return { samplingPercent, endpoint, serviceName, propagation };
}

/**
 * What a listener limits per connection (a gateway's ClientTrafficPolicy): undefined fields keep
 * the listener's defaults (http-listener.ts). Applied live: a new value holds for new connections
 * (head size, connection count) and for the open ones at their next check (timeouts).
 */
export interface DownstreamLimits {
  /** HCM max_request_headers_kb, in bytes: a larger head is answered 431. */
  readonly maxHeaderBytes?: number;
  /** HCM request_headers_timeout: a head not complete in time is answered 408. */
  readonly headersTimeoutMs?: number;
  /** HCM common_http_protocol_options.idle_timeout: a connection with no request in flight is closed. */
  readonly idleTimeoutMs?: number;
  /** connection_limit max_connections: past it, a new connection is closed at once. */
  readonly maxConnections?: number;
}

/** One filter chain's HTTP connection manager, decoded. */
export interface ChainHcm {
  hcm: HttpConnectionManager;
  /** RouteConfiguration name (RDS). */
  routeName: string;
  /** The HTTP filters before the router, in order, their configs parsed (composed in runtime.ts). */
  filters: readonly FilterSpec[];
  tracing: TracingConfig | undefined;
  /** Path normalization before routing and authorization (normalize_path, merge_slashes, escaped slashes). */
  paths: PathOptions;
  /** Upgrade types the listener allows (upgrade_configs); a route may enable or disable one. */
  upgrades: ReadonlySet<string>;
}

/** The connection_limit filter's fields the proxy executes (delay and runtime_enabled are refused). */
/**
 * The network filters before the HttpConnectionManager in a filter chain: only
 * envoy.filters.network.connection_limit is executed (its max_connections, per listener).
 */
function networkFiltersOf(filters: readonly Filter[], p: Problems, path: string): { maxConnections?: number } {
  const out: { maxConnections?: number } = {};
  filters.forEach((f, i) => {
    const fp = `${path}.filters[${i}]`;
    const any = f.configType.case === 'typedConfig' ? f.configType.value : undefined;
    if (!any || !isExtensionConfig(any.typeUrl, EXTENSIONS.connectionLimit)) {
      p.add(`${fp}.typed_config`, `network filter '${f.name}' is not supported before the HttpConnectionManager (only ${EXTENSIONS.connectionLimit.name})`);
      return;
    }
    const max = connectionLimitOf(any, p, fp);
    if (max === undefined) return;
    if (out.maxConnections !== undefined) p.add(fp, 'a second connection_limit filter');
    else out.maxConnections = max;
  });
  return out;
}

/** The HCM's connection limits (max_request_headers_kb, request_headers_timeout, idle_timeout). */
function hcmLimitsOf(hcm: HttpConnectionManager, p: Problems, path: string): Omit<DownstreamLimits, 'maxConnections'> {
  const out: { maxHeaderBytes?: number; headersTimeoutMs?: number; idleTimeoutMs?: number } = {};
  const kb = hcm.maxRequestHeadersKb;
  if (kb !== undefined) {
    // Envoy's bounds: 1..8192 KiB.
    if (kb < 1 || kb > 8192) p.add(`${path}.max_request_headers_kb`, 'must be 1..8192');
    else out.maxHeaderBytes = kb * 1024;
  }
  const ms = (d: { seconds: bigint; nanos: number } | undefined, fp: string): number | undefined => {
    if (!d) return undefined;
    const v = Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
    // 0 means "off" in Envoy; the proxy keeps its default instead, so 0 is refused rather than ignored.
    if (!(v > 0)) p.add(fp, 'must be a positive duration');
    return v > 0 ? v : undefined;
  };
  const t = ms(hcm.requestHeadersTimeout, `${path}.request_headers_timeout`);
  if (t !== undefined) out.headersTimeoutMs = t;
  const idle = ms(hcm.commonHttpProtocolOptions?.idleTimeout, `${path}.common_http_protocol_options.idle_timeout`);
  if (idle !== undefined) out.idleTimeoutMs = idle;
  return out;
}

/** A gateway filter chain: its own HCM, and for HTTPS the SNI names it takes and its certificates. */
export interface EdgeChain extends ChainHcm {
  /** This chain's limits (the port's connections take the first chain's). */
  limits: DownstreamLimits;
  /** server_names (lower case; `*.suffix` wildcards); empty: the default chain. */
  serverNames: readonly string[];
  /** TLS terminated with these SDS certificates (undefined: plaintext HTTP). */
  terminate: TerminatingTls | undefined;
}

export interface SidecarListener extends ChainHcm {
  readonly kind: 'http';
  listener: Listener;
  /** TLS and/or plaintext (sidecar socket listeners, whose filter chains all carry the same HCM). */
  transport: InboundTransport;
  /**
   * Gateway listeners: one chain per Gateway listener on the port, each with its own HCM (the
   * fields above are the first chain's). Undefined for sidecar listeners.
   */
  edge: readonly EdgeChain[] | undefined;
  /**
   * Per-connection limits (frozen; the same object until the Listener changes). A gateway port's
   * chains share them: connections are limited before SNI picks a chain (the first chain's).
   */
  limits: DownstreamLimits;
}

function decodeHcm(any: Any | undefined, l: Listener, p: Problems, path: string): ChainHcm | undefined {
  let hcm: HttpConnectionManager | undefined;
  if (!any) p.add(path, 'an HttpConnectionManager is required');
  else if (!isExtensionConfig(any.typeUrl, EXTENSIONS.httpConnectionManager)) p.add(`${path}.type_url`, `unsupported filter '${any.typeUrl}'`);
  else hcm = unpackAny(any, HttpConnectionManagerSchema);
  if (!hcm) return undefined;
  const before = p.errors.length;
  let routeName = '';
  checkSupported(HttpConnectionManagerSchema, hcm, LISTENER_FIELDS, p, path);
  if (hcm.routeSpecifier.case !== 'rds') p.add(`${path}.rds`, 'routes must come over RDS');
  else routeName = hcm.routeSpecifier.value.routeConfigName;
  if (hcm.routeSpecifier.case === 'rds' && !routeName) p.add(`${path}.rds.route_config_name`, 'is required');
  const last = hcm.httpFilters.at(-1)?.configType;
  if (last?.case !== 'typedConfig' || !isExtensionConfig(last.value.typeUrl, EXTENSIONS.router)) p.add(`${path}.http_filters`, 'the last filter must be the router (envoy.filters.http.router)');
  const paths = pathOptionsOf(hcm, p, path);
  const upgrades = upgradesOf(hcm, p, path);
  const filters = filtersOf(hcm.httpFilters, p, path);
  const tracing = tracingOf(hcm, l, p, path);
  return p.errors.length > before ? undefined : { hcm, routeName, filters, tracing, paths, upgrades };
}

/** The HCM ends a socket listener's chain; network filters before it are limits (connection_limit). */
const chainHcm = (fc: Listener['filterChains'][number] | undefined): Any | undefined => {
  const f = fc?.filters.at(-1);
  return f?.configType.case === 'typedConfig' ? f.configType.value : undefined;
};

/** A chain's limits: its HCM's, and the connection_limit filter before it. */
function chainLimits(fc: Listener['filterChains'][number], hcm: HttpConnectionManager | undefined, p: Problems, path: string): DownstreamLimits {
  const hcmAt = Math.max(0, fc.filters.length - 1);
  return Object.freeze({ ...(hcm ? hcmLimitsOf(hcm, p, `${path}.filters[${hcmAt}].typed_config`) : {}), ...networkFiltersOf(fc.filters.slice(0, hcmAt), p, path) });
}

/**
 * A gateway listener: chains with their own HCMs, told apart by SNI. Either one plaintext chain,
 * or TLS chains only, each terminating with its own certificates; server_names distinct across
 * chains, at most one chain without (the default for clients whose SNI matches none, or send none).
 */
function decodeEdge(l: Listener, p: Problems): EdgeChain[] {
  const out: EdgeChain[] = [];
  const names = new Map<string, number>();
  let defaults = 0;
  let plain = 0;
  l.filterChains.forEach((fc, i) => {
    const path = `filter_chains[${i}]`;
    if (!fc.filters.length) p.add(`${path}.filters`, 'must end with the HttpConnectionManager');
    if (fc.filterChainMatch?.transportProtocol) p.add(`${path}.filter_chain_match.transport_protocol`, 'is not used on a gateway listener (TLS chains are told apart by server_names)');
    const terminate = fc.transportSocket ? terminatingTlsOf(fc.transportSocket, p, `${path}.transport_socket`) : undefined;
    if (!fc.transportSocket) plain++;
    const serverNames = (fc.filterChainMatch?.serverNames ?? []).map((n) => n.toLowerCase());
    if (!serverNames.length) defaults++;
    serverNames.forEach((n, j) => {
      if (!/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(n)) p.add(`${path}.filter_chain_match.server_names[${j}]`, `'${n}' is not a host name or *.suffix wildcard`);
      const other = names.get(n);
      if (other !== undefined) p.add(`${path}.filter_chain_match.server_names[${j}]`, `'${n}' is also matched by filter_chains[${other}]`);
      else names.set(n, i);
    });
    if (serverNames.length && !fc.transportSocket) p.add(`${path}.filter_chain_match.server_names`, 'SNI matching needs a TLS transport socket');
    const h = decodeHcm(chainHcm(fc), l, p, `${path}.filters[${Math.max(0, fc.filters.length - 1)}].typed_config`);
    if (h) out.push({ ...h, serverNames, terminate, limits: chainLimits(fc, h.hcm, p, path) });
  });
  if (defaults > 1) p.add('filter_chains', `${defaults} chains have no server_names; at most one may be the default`);
  // Connection limits hold before SNI picks a chain: the chains of one port must agree on them.
  const first = out[0] && JSON.stringify(out[0].limits);
  out.forEach((c, i) => {
    if (i > 0 && JSON.stringify(c.limits) !== first) p.add(`filter_chains[${i}]`, 'connection limits (connection_limit, max_request_headers_kb, request_headers_timeout, idle_timeout) must equal filter_chains[0]\'s: they apply before SNI picks a chain');
  });
  if (plain && l.filterChains.length > 1) p.add('filter_chains', 'a plaintext chain must be the listener\'s only chain (plaintext connections cannot be told apart)');
  return out;
}

/** Whether `l` is a gateway listener: its chains terminate TLS with user certificates, or carry different HCMs. */
function isEdge(l: Listener): boolean {
  if (l.apiListener) return false;
  const first = chainHcm(l.filterChains[0]);
  return l.filterChains.some((fc, i) => {
    if ((fc.filterChainMatch?.serverNames.length ?? 0) > 0) return true;
    if (fc.transportSocket && servesUserCertificates(fc.transportSocket)) return true;
    const a = chainHcm(fc);
    return i > 0 && (!a || !first || a.typeUrl !== first.typeUrl || Buffer.compare(Buffer.from(a.value), Buffer.from(first.value)) !== 0);
  });
}

/** A Listener as the sidecar runs it: HTTP (an HttpConnectionManager) or layer 4 (tcp_proxy). */
export type XdsListener = SidecarListener | TcpListenerConfig;

export function decodeListener(bytes: Uint8Array): Decoded<XdsListener> {
  const l = decodeMessage(ListenerSchema, bytes);
  const p = new Problems(`Listener/${l.name || '?'}`);
  if (!l.name) p.add('name', 'is required');
  checkSupported(ListenerSchema, l, LISTENER_FIELDS, p, '');
  if (isTcpListener(l)) {
    if (l.apiListener) p.add('api_listener', 'a TCP listener is a socket listener');
    const value = decodeTcpListener(l, p);
    return { name: l.name, value: p.errors.length ? undefined : value, errors: p.errors };
  }
  if (l.listenerFilters.length) p.add('listener_filters', 'only TCP (tcp_proxy) listeners take listener filters (tls_inspector)');
  if (isEdge(l)) {
    const edge = decodeEdge(l, p);
    const first = edge[0];
    if (!first && !p.errors.length) p.add('filter_chains', 'a gateway listener needs a filter chain');
    return { name: l.name, value: p.errors.length || !first ? undefined : { kind: 'http', listener: l, ...first, transport: { tls: undefined, plaintext: !first.terminate }, edge }, errors: p.errors };
  }
  const fc0 = l.filterChains[0];
  const hcmAt = Math.max(0, (fc0?.filters.length ?? 1) - 1);
  const any = l.apiListener?.apiListener ?? chainHcm(fc0);
  const path = l.apiListener ? 'api_listener.api_listener' : `filter_chains[0].filters[${hcmAt}].typed_config`;
  const h = decodeHcm(any, l, p, path);
  const transport = inboundTransportOf(l, p);
  const limits = l.apiListener || !fc0 ? Object.freeze({}) : chainLimits(fc0, h?.hcm, p, 'filter_chains[0]');
  // Every chain must carry the same filters (they differ only in transport).
  for (let i = 1; i < l.filterChains.length; i++) {
    const fs = l.filterChains[i]!.filters;
    if (fs.length !== (fc0?.filters.length ?? 0)) p.add(`filter_chains[${i}].filters`, 'must hold the same filters as filter_chains[0]');
    fs.forEach((f, j) => {
      const a = f.configType.case === 'typedConfig' ? f.configType.value : undefined;
      const b = fc0?.filters[j]?.configType.case === 'typedConfig' ? fc0.filters[j]!.configType.value : undefined;
      if (!a || !b || a.typeUrl !== b.typeUrl || Buffer.compare(Buffer.from(a.value), Buffer.from(b.value)) !== 0) p.add(`filter_chains[${i}].filters[${j}].typed_config`, `must equal filter_chains[0]'s`);
    });
  }
  return { name: l.name, value: p.errors.length || !h ? undefined : { kind: 'http', listener: l, ...h, transport, edge: undefined, limits }, errors: p.errors };
}
