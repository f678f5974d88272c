/**
 * A protobuf registry of every message Weft's xDS resources can contain, so config dumps (the admin
 * API's, printed by `weft proxy-config`) can turn `Any` fields (typed_config,
 * typed_extension_protocol_options, typed_per_filter_config) into readable JSON. Made from the
 * resource types and common/extensions.ts, the one list of extensions Weft emits: an extension
 * added there renders here without another edit.
 */
import { createRegistry, toJson, type DescMessage, type JsonValue, type MessageShape, type Registry } from '@bufbuild/protobuf';
import { EXTENSION_SCHEMAS } from '../../common/extensions.js';
import { file_envoy_config_listener_v3_listener } from '../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import { file_envoy_config_route_v3_route } from '../../proto/gen/envoy/config/route/v3/route_pb.js';
import { file_envoy_config_cluster_v3_cluster } from '../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { file_envoy_config_endpoint_v3_endpoint } from '../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { SecretSchema, file_envoy_extensions_transport_sockets_tls_v3_secret } from '../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js';

export const xdsTypeRegistry: Registry = createRegistry(
  // The resource types (TYPE_URL in common/xds-types.ts)...
  file_envoy_config_listener_v3_listener,
  file_envoy_config_route_v3_route,
  file_envoy_config_cluster_v3_cluster,
  file_envoy_config_endpoint_v3_endpoint,
  file_envoy_extensions_transport_sockets_tls_v3_secret,
  // ...and every typed config inside them.
  ...EXTENSION_SCHEMAS.map((s) => s.file),
);

/** Proto3 JSON of a resource, with `Any` fields expanded. */
export function resourceToJson(schema: DescMessage, message: MessageShape<DescMessage>): JsonValue {
  const json = toJson(schema, message, { registry: xdsTypeRegistry, alwaysEmitImplicit: false });
  return schema.typeName === SecretSchema.typeName ? redactSecretJson(json) : json;
}

/** A Secret's private key never leaves in a dump: Envoy's config_dump shows "[redacted]" the same way. */
function redactSecretJson(json: JsonValue): JsonValue {
  const t = (json as { tlsCertificate?: { privateKey?: unknown } } | null)?.tlsCertificate;
  if (t && t.privateKey !== undefined) t.privateKey = { inlineString: '[redacted]' };
  return json;
}
