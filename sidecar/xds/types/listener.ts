/** Listener resources: the sidecar needs one HttpConnectionManager taking routes over RDS. */
import { fromBinary } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { ListenerSchema, type Listener } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import type { Filter } from '../../../proto/gen/envoy/config/listener/v3/listener_components_pb.js';
import { ConnectionLimitSchema } from '../../../proto/gen/envoy/extensions/filters/network/connection_limit/v3/connection_limit_pb.js';
import {
  HttpConnectionManagerSchema,
  type HttpConnectionManager,
} from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { Problems, type Decoded } from './decoded.js';
import { inboundTransportOf, type InboundTransport } from './tls.js';
import { filterFactory } from '../../http/filters/index.js';
import type { FilterSpec } from '../../http/filter.js';
import { OpenTelemetryConfigSchema } from '../../../proto/gen/envoy/config/trace/v3/opentelemetry_pb.js';
import { HttpConnectionManager_PathWithEscapedSlashesAction as Slashes, type HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { RouterSchema } from '../../../proto/gen/envoy/extensions/filters/http/router/v3/router_pb.js';
import { EscapedSlashes, type PathOptions } from '../../http/uri.js';
import { checkSupported, LISTENER_FIELDS, supportedFields } from './supported.js';
import { EXTENSIONS, isExtensionConfig } from '../../../common/extensions.js';
import type { TracingConfig } from '../../telemetry/tracing.js';

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
 * `is_optional` (then it is left out); the router must come last and ends every chain. Envoy and
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
      const r = anyUnpack(any, RouterSchema);
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
    if (p.errors.length === before) out.push({ name: f.name, factory, config });
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
      const oc = anyUnpack(any, OpenTelemetryConfigSchema);
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

export interface SidecarListener {
  listener: Listener;
  hcm: HttpConnectionManager;
  /** RouteConfiguration name (RDS). */
  routeName: string;
  /** TLS and/or plaintext (socket listeners; every filter chain carries the same HCM). */
  transport: InboundTransport;
  /** The HTTP filters before the router, in order, their configs parsed (composed in runtime.ts). */
  filters: readonly FilterSpec[];
  tracing: TracingConfig | undefined;
  /** Path normalization before routing and authorization (normalize_path, merge_slashes, escaped slashes). */
  paths: PathOptions;
  /** Upgrade types the listener allows (upgrade_configs); a route may enable or disable one. */
  upgrades: ReadonlySet<string>;
  /** Per-connection limits (frozen; the same object until the Listener changes). */
  limits: DownstreamLimits;
}

/** The connection_limit filter's fields the proxy executes (delay and runtime_enabled are refused). */
const CONNECTION_LIMIT_FIELDS = supportedFields({ 'envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit': ['stat_prefix', 'max_connections'] });

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
    const m = anyUnpack(any, ConnectionLimitSchema);
    if (!m) return p.add(`${fp}.typed_config`, 'is not a ConnectionLimit');
    checkSupported(ConnectionLimitSchema, m, CONNECTION_LIMIT_FIELDS, p, `${fp}.typed_config`);
    const max = m.maxConnections;
    if (max === undefined || max < 1n || max > BigInt(Number.MAX_SAFE_INTEGER)) p.add(`${fp}.typed_config.max_connections`, 'is required and must be at least 1');
    else if (out.maxConnections !== undefined) p.add(fp, 'a second connection_limit filter');
    else out.maxConnections = Number(max);
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

export function decodeListener(bytes: Uint8Array): Decoded<SidecarListener> {
  const l = fromBinary(ListenerSchema, bytes);
  const p = new Problems(`Listener/${l.name || '?'}`);
  if (!l.name) p.add('name', 'is required');
  // The HCM ends a socket listener's chain; network filters before it are limits (connection_limit).
  const chain0 = l.filterChains[0]?.filters ?? [];
  const hcmAt = Math.max(0, chain0.length - 1);
  const last = chain0[hcmAt];
  const any = l.apiListener?.apiListener ?? (last?.configType.case === 'typedConfig' ? last.configType.value : undefined);
  const path = l.apiListener ? 'api_listener.api_listener' : `filter_chains[0].filters[${hcmAt}].typed_config`;
  let hcm: HttpConnectionManager | undefined;
  if (!any) p.add(path, 'an HttpConnectionManager is required');
  else if (!isExtensionConfig(any.typeUrl, EXTENSIONS.httpConnectionManager)) p.add(`${path}.type_url`, `unsupported filter '${any.typeUrl}'`);
  else hcm = anyUnpack(any, HttpConnectionManagerSchema);
  let routeName = '';
  checkSupported(ListenerSchema, l, LISTENER_FIELDS, p, '');
  let paths: PathOptions | undefined;
  let upgrades: ReadonlySet<string> | undefined;
  if (hcm) {
    checkSupported(HttpConnectionManagerSchema, hcm, LISTENER_FIELDS, p, path);
    if (hcm.routeSpecifier.case !== 'rds') p.add(`${path}.rds`, 'routes must come over RDS');
    else routeName = hcm.routeSpecifier.value.routeConfigName;
    if (hcm.routeSpecifier.case === 'rds' && !routeName) p.add(`${path}.rds.route_config_name`, 'is required');
    const last = hcm.httpFilters.at(-1)?.configType;
    if (last?.case !== 'typedConfig' || !isExtensionConfig(last.value.typeUrl, EXTENSIONS.router)) p.add(`${path}.http_filters`, 'the last filter must be the router (envoy.filters.http.router)');
    paths = pathOptionsOf(hcm, p, path);
    upgrades = upgradesOf(hcm, p, path);
  }
  const transport = inboundTransportOf(l, p);
  const conn = l.apiListener ? {} : networkFiltersOf(chain0.slice(0, hcmAt), p, 'filter_chains[0]');
  const limits: DownstreamLimits = Object.freeze({ ...(hcm ? hcmLimitsOf(hcm, p, path) : {}), ...conn });
  const filters = hcm ? filtersOf(hcm.httpFilters, p, path) : [];
  const tracing = hcm ? tracingOf(hcm, l, p, path) : undefined;
  // Every chain must carry the same HttpConnectionManager (they differ only in transport).
  for (let i = 1; i < l.filterChains.length; i++) {
    const fs = l.filterChains[i]!.filters;
    if (fs.length !== chain0.length) p.add(`filter_chains[${i}].filters`, 'must hold the same filters as filter_chains[0]');
    const f = fs[hcmAt];
    const a = f?.configType.case === 'typedConfig' ? f.configType.value : undefined;
    if (!a || !any || a.typeUrl !== any.typeUrl || Buffer.compare(Buffer.from(a.value), Buffer.from(any.value)) !== 0) p.add(`filter_chains[${i}].filters[${hcmAt}].typed_config`, 'must equal filter_chains[0]\'s HttpConnectionManager');
  }
  return { name: l.name, value: p.errors.length || !hcm || !paths || !upgrades ? undefined : { listener: l, hcm, routeName, transport, filters, tracing, paths, upgrades, limits }, errors: p.errors };
}
