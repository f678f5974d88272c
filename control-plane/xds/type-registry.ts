/**
 * A protobuf registry of every message Weft's xDS resources can contain, so config dumps can turn
 * `Any` fields (typed_config, typed_extension_protocol_options) into readable JSON.
 */
import { createRegistry, toJson, type DescMessage, type JsonValue, type MessageShape, type Registry } from '@bufbuild/protobuf';
import { file_envoy_config_listener_v3_listener } from '../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import { file_envoy_config_route_v3_route } from '../../proto/gen/envoy/config/route/v3/route_pb.js';
import { file_envoy_config_cluster_v3_cluster } from '../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { file_envoy_config_endpoint_v3_endpoint } from '../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { file_envoy_extensions_transport_sockets_tls_v3_secret } from '../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js';
import { file_envoy_extensions_transport_sockets_tls_v3_tls } from '../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager } from '../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { file_envoy_extensions_filters_http_router_v3_router } from '../../proto/gen/envoy/extensions/filters/http/router/v3/router_pb.js';
import { file_envoy_extensions_filters_http_rbac_v3_rbac } from '../../proto/gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js';
import { file_envoy_extensions_upstreams_http_v3_http_protocol_options } from '../../proto/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js';
import { file_envoy_config_trace_v3_opentelemetry } from '../../proto/gen/envoy/config/trace/v3/opentelemetry_pb.js';
import { file_xds_type_v3_typed_struct } from '../../proto/gen/xds/type/v3/typed_struct_pb.js';

export const xdsTypeRegistry: Registry = createRegistry(
  file_envoy_config_listener_v3_listener,
  file_envoy_config_route_v3_route,
  file_envoy_config_cluster_v3_cluster,
  file_envoy_config_endpoint_v3_endpoint,
  file_envoy_extensions_transport_sockets_tls_v3_secret,
  file_envoy_extensions_transport_sockets_tls_v3_tls,
  file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager,
  file_envoy_extensions_filters_http_router_v3_router,
  file_envoy_extensions_filters_http_rbac_v3_rbac,
  file_envoy_extensions_upstreams_http_v3_http_protocol_options,
  file_envoy_config_trace_v3_opentelemetry,
  file_xds_type_v3_typed_struct,
);

/** Proto3 JSON of a resource, with `Any` fields expanded. */
export function resourceToJson(schema: DescMessage, message: MessageShape<DescMessage>): JsonValue {
  return toJson(schema, message, { registry: xdsTypeRegistry, alwaysEmitImplicit: false });
}
