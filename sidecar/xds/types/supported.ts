/**
 * Fail closed on xDS fields: for each message type the sidecar executes, the fields it honours.
 * A resource that sets any other field of such a message is refused with that field's path, so
 * nothing is accepted and then silently ignored (an ignored mirror policy, retry predicate or
 * header matcher option would change what a request does without anyone knowing).
 *
 * Message types not listed here are taken as a unit by whoever reads them (a Duration, a
 * wrapper, an Any unpacked and checked by its own decoder).
 */
import type { DescMessage, Message } from '@bufbuild/protobuf';
import { isWireFieldSet } from '../../../common/wire-decode.js';
import { wireByName, wireOf, type WireField, type WireMessage } from '../../../common/wire-table.js';
import type { Problems } from './decoded.js';

/** Per protobuf type name: the field names (as in the .proto) the sidecar executes. */
export type SupportedFields = ReadonlyMap<string, ReadonlySet<string>>;

/** Builds the table from `{ 'envoy.config.route.v3.Route': ['name', 'match', ...] }`. */
export function supportedFields(t: Record<string, readonly string[]>): SupportedFields {
  return new Map(Object.entries(t).map(([k, v]) => [k, new Set(v)]));
}

function valueOf(msg: Message, f: WireField): unknown {
  const m = msg as unknown as Record<string, unknown>;
  if (f.oneof !== undefined) {
    const o = m[f.oneof] as { case?: string; value?: unknown } | undefined;
    return o?.case === f.localName ? o.value : undefined;
  }
  return m[f.localName];
}

/**
 * Adds an error for every set field of `msg` (and of the listed messages inside it) that the
 * table does not list. `path` is the field path of `msg` in its resource ('' for the root).
 * Reads the message's wire table (common/wire-table.ts), not its descriptor: the sidecar's bundle
 * builds no descriptor to decode and check a resource.
 */
export function checkSupported(schema: DescMessage, msg: Message, table: SupportedFields, p: Problems, path: string): void {
  if (table.has(schema.typeName)) check(wireOf(schema), msg, table, p, path);
}

function check(t: WireMessage, msg: Message, table: SupportedFields, p: Problems, path: string): void {
  const allowed = table.get(t.typeName);
  if (!allowed) return;
  for (const f of t.fields) {
    if (!isWireFieldSet(msg, f)) continue;
    const fp = path ? `${path}.${f.name}` : f.name;
    if (!allowed.has(f.name)) {
      p.add(fp, `is not supported by the Weft sidecar (refused rather than ignored)`);
      continue;
    }
    if (f.valueKind !== 'message' || f.wrapper || f.struct || !table.has(f.message)) continue;
    const v = valueOf(msg, f);
    const child = wireByName(f.message);
    switch (f.fieldKind) {
      case 'message':
        if (v && typeof v === 'object') check(child, v as Message, table, p, fp);
        break;
      case 'list':
        (v as Message[]).forEach((x, i) => check(child, x, table, p, `${fp}[${i}]`));
        break;
      case 'map':
        for (const [k, x] of Object.entries(v as Record<string, Message>)) check(child, x, table, p, `${fp}["${k}"]`);
        break;
      default:
        break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The tables: what the sidecar's route table (routing/route-table.ts, matchers.ts), clusters
// (upstream/*), listeners (listeners/*, http/*) and TLS (xds/types/tls.ts) execute.

const STRING_MATCHER = ['exact', 'prefix', 'suffix', 'contains', 'safe_regex', 'ignore_case'];
const HEADER_VALUE_OPTION = ['header', 'append', 'append_action'];

/** RouteConfiguration and everything inside it. */
export const ROUTE_FIELDS = supportedFields({
  'envoy.config.route.v3.RouteConfiguration': ['name', 'virtual_hosts', 'validate_clusters'],
  'envoy.config.route.v3.VirtualHost': ['name', 'domains', 'routes', 'retry_policy', 'typed_per_filter_config'],
  'envoy.config.route.v3.Route': ['name', 'match', 'route', 'redirect', 'direct_response', 'request_headers_to_add', 'request_headers_to_remove', 'response_headers_to_add', 'response_headers_to_remove', 'typed_per_filter_config'],
  'envoy.config.route.v3.RouteMatch': ['prefix', 'path', 'safe_regex', 'path_separated_prefix', 'case_sensitive', 'headers', 'query_parameters'],
  'envoy.config.route.v3.HeaderMatcher': ['name', 'exact_match', 'safe_regex_match', 'prefix_match', 'suffix_match', 'contains_match', 'string_match', 'present_match', 'range_match', 'invert_match', 'treat_missing_header_as_empty'],
  'envoy.config.route.v3.QueryParameterMatcher': ['name', 'string_match', 'present_match'],
  'envoy.type.matcher.v3.StringMatcher': STRING_MATCHER,
  'envoy.type.matcher.v3.RegexMatcher': ['regex', 'google_re2'],
  'envoy.type.matcher.v3.RegexMatchAndSubstitute': ['pattern', 'substitution'],
  'envoy.config.route.v3.RouteAction': ['cluster', 'weighted_clusters', 'timeout', 'retry_policy', 'hash_policy', 'prefix_rewrite', 'regex_rewrite', 'host_rewrite_literal', 'max_stream_duration', 'upgrade_configs', 'request_mirror_policies'],
  'envoy.config.route.v3.RouteAction.RequestMirrorPolicy': ['cluster', 'runtime_fraction', 'disable_shadow_host_suffix_append'],
  'envoy.config.core.v3.RuntimeFractionalPercent': ['default_value'],
  'envoy.type.v3.FractionalPercent': ['numerator', 'denominator'],
  'envoy.config.route.v3.RouteAction.UpgradeConfig': ['upgrade_type', 'enabled'],
  'envoy.config.route.v3.RouteAction.MaxStreamDuration': ['grpc_timeout_header_max'],
  'envoy.config.route.v3.WeightedCluster': ['clusters', 'total_weight'],
  'envoy.config.route.v3.WeightedCluster.ClusterWeight': ['name', 'weight'],
  'envoy.config.route.v3.RetryPolicy': ['retry_on', 'num_retries', 'per_try_timeout', 'retry_back_off', 'retriable_status_codes'],
  'envoy.config.route.v3.RetryPolicy.RetryBackOff': ['base_interval', 'max_interval'],
  'envoy.config.route.v3.RouteAction.HashPolicy': ['header', 'cookie', 'connection_properties'],
  'envoy.config.route.v3.RouteAction.HashPolicy.Header': ['header_name'],
  'envoy.config.route.v3.RouteAction.HashPolicy.Cookie': ['name', 'ttl', 'path'],
  'envoy.config.route.v3.RouteAction.HashPolicy.ConnectionProperties': ['source_ip'],
  'envoy.config.route.v3.RedirectAction': ['scheme_redirect', 'https_redirect', 'host_redirect', 'port_redirect', 'path_redirect', 'prefix_rewrite', 'regex_rewrite', 'response_code', 'strip_query'],
  'envoy.config.route.v3.DirectResponseAction': ['status', 'body'],
  'envoy.config.core.v3.DataSource': ['inline_string', 'inline_bytes'],
  'envoy.config.core.v3.HeaderValueOption': HEADER_VALUE_OPTION,
  'envoy.config.core.v3.HeaderValue': ['key', 'value'],
});

/** Cluster (and the endpoints a STATIC cluster carries inline). */
export const CLUSTER_FIELDS = supportedFields({
  'envoy.config.cluster.v3.Cluster': [
    'name', 'type', 'eds_cluster_config', 'connect_timeout', 'lb_policy', 'load_assignment', 'transport_socket', 'transport_socket_matches',
    'typed_extension_protocol_options', 'http2_protocol_options', 'circuit_breakers', 'outlier_detection', 'health_checks', 'common_lb_config',
    'ring_hash_lb_config', 'least_request_lb_config', 'metadata', 'common_http_protocol_options',
  ],
  'envoy.config.cluster.v3.Cluster.EdsClusterConfig': ['eds_config', 'service_name'],
  // zone_aware_lb_config: the control plane does zone awareness for the sidecar, by giving the
  // caller's zone priority 0 in the endpoints (the sidecar's priority picker); no option inside is executed.
  'envoy.config.cluster.v3.Cluster.CommonLbConfig': ['healthy_panic_threshold', 'zone_aware_lb_config'],
  'envoy.config.cluster.v3.Cluster.CommonLbConfig.ZoneAwareLbConfig': [],
  'envoy.config.cluster.v3.Cluster.RingHashLbConfig': ['minimum_ring_size', 'maximum_ring_size'],
  'envoy.config.cluster.v3.Cluster.LeastRequestLbConfig': ['choice_count'],
  'envoy.config.cluster.v3.Cluster.TransportSocketMatch': ['name', 'match', 'transport_socket'],
  'envoy.config.cluster.v3.CircuitBreakers': ['thresholds'],
  'envoy.config.cluster.v3.CircuitBreakers.Thresholds': ['max_connections', 'max_pending_requests', 'max_requests', 'max_retries', 'retry_budget'],
  'envoy.config.cluster.v3.CircuitBreakers.Thresholds.RetryBudget': ['budget_percent', 'min_retry_concurrency'],
  'envoy.config.cluster.v3.OutlierDetection': [
    'consecutive_5xx', 'consecutive_gateway_failure', 'enforcing_consecutive_5xx', 'enforcing_consecutive_gateway_failure', 'base_ejection_time', 'max_ejection_time',
    'max_ejection_percent', 'interval',
  ],
  'envoy.config.core.v3.HealthCheck': ['interval', 'timeout', 'unhealthy_threshold', 'healthy_threshold', 'http_health_check', 'tcp_health_check'],
  'envoy.config.core.v3.HealthCheck.TcpHealthCheck': ['send', 'receive'],
  'envoy.config.core.v3.HealthCheck.HttpHealthCheck': ['path', 'host', 'expected_statuses'],
  'envoy.config.core.v3.HttpProtocolOptions': ['idle_timeout'],
  'envoy.config.core.v3.TransportSocket': ['name', 'typed_config'],
  'envoy.config.endpoint.v3.ClusterLoadAssignment': ['cluster_name', 'endpoints'],
  'envoy.config.endpoint.v3.LocalityLbEndpoints': ['locality', 'lb_endpoints', 'load_balancing_weight', 'priority'],
  'envoy.config.endpoint.v3.LbEndpoint': ['endpoint', 'health_status', 'load_balancing_weight', 'metadata'],
  'envoy.config.endpoint.v3.Endpoint': ['address'],
  'envoy.config.core.v3.Address': ['socket_address'],
  'envoy.config.core.v3.SocketAddress': ['address', 'port_value', 'protocol'],
  'envoy.config.core.v3.Locality': ['region', 'zone', 'sub_zone'],
});

/** Listener: the HttpConnectionManager is checked by listener.ts, each HTTP filter by its own decoder. */
export const LISTENER_FIELDS = supportedFields({
  'envoy.config.listener.v3.Listener': ['name', 'address', 'filter_chains', 'api_listener', 'metadata', 'traffic_direction', 'listener_filters'],
  'envoy.config.listener.v3.ListenerFilter': ['name', 'typed_config'],
  'envoy.config.listener.v3.FilterChain': ['filter_chain_match', 'filters', 'transport_socket', 'name'],
  'envoy.config.listener.v3.FilterChainMatch': ['transport_protocol', 'server_names'],
  'envoy.config.listener.v3.Filter': ['name', 'typed_config'],
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager': [
    'stat_prefix', 'codec_type', 'rds', 'http_filters', 'tracing', 'normalize_path', 'merge_slashes', 'path_with_escaped_slashes_action', 'upgrade_configs',
    'max_request_headers_kb', 'request_headers_timeout', 'common_http_protocol_options',
  ],
  // The HCM's connection options: only the idle timeout is executed.
  'envoy.config.core.v3.HttpProtocolOptions': ['idle_timeout'],
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.UpgradeConfig': ['upgrade_type', 'enabled'],
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter': ['name', 'typed_config', 'is_optional', 'disabled'],
  'envoy.extensions.filters.network.http_connection_manager.v3.Rds': ['config_source', 'route_config_name'],
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.Tracing': ['provider', 'random_sampling'],
});
