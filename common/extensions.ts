/**
 * Every Envoy and Weft extension Weft puts in an xDS resource, declared once: the name it travels
 * under (filter name, transport socket name, protocol-options key), its `typed_config` type URL
 * and the protobuf-es schema that decodes it. The translator builds typed configs from this list,
 * the control plane's JSON registry (`weft proxy-config`, config dumps) is made from it, and a
 * decoder asks it which type URLs it may meet. Adding an extension to Weft starts here.
 */
import { create, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { anyPack, type Any } from '@bufbuild/protobuf/wkt';
import { OpenTelemetryConfigSchema } from '../proto/gen/envoy/config/trace/v3/opentelemetry_pb.js';
import { FilterConfigSchema } from '../proto/gen/envoy/config/route/v3/route_components_pb.js';
import { GrpcJsonTranscoderSchema } from '../proto/gen/envoy/extensions/filters/http/grpc_json_transcoder/v3/transcoder_pb.js';
import { GrpcWebSchema } from '../proto/gen/envoy/extensions/filters/http/grpc_web/v3/grpc_web_pb.js';
import { CorsPolicySchema, CorsSchema } from '../proto/gen/envoy/extensions/filters/http/cors/v3/cors_pb.js';
import { HTTPFaultSchema } from '../proto/gen/envoy/extensions/filters/http/fault/v3/fault_pb.js';
import { CompressorPerRouteSchema, CompressorSchema } from '../proto/gen/envoy/extensions/filters/http/compressor/v3/compressor_pb.js';
import { GzipSchema } from '../proto/gen/envoy/extensions/compression/gzip/compressor/v3/gzip_pb.js';
import { BrotliSchema } from '../proto/gen/envoy/extensions/compression/brotli/compressor/v3/brotli_pb.js';
import { GrpcJsonReverseSchema, RequestLimitsSchema } from '../proto/gen/weft/v1/filters_pb.js';
import { BufferSchema } from '../proto/gen/envoy/extensions/filters/http/buffer/v3/buffer_pb.js';
import { ConnectionLimitSchema } from '../proto/gen/envoy/extensions/filters/network/connection_limit/v3/connection_limit_pb.js';
import { CacheConfigSchema } from '../proto/gen/envoy/extensions/filters/http/cache/v3/cache_pb.js';
import { SimpleHttpCacheConfigSchema } from '../proto/gen/envoy/extensions/http/cache/simple_http_cache/v3/config_pb.js';
import { MemoryHttpCacheConfigSchema, RedisHttpCacheConfigSchema } from '../proto/gen/weft/v1/cache_pb.js';
import { JwtAuthenticationSchema, PerRouteConfigSchema as JwtPerRouteConfigSchema } from '../proto/gen/envoy/extensions/filters/http/jwt_authn/v3/config_pb.js';
import { JwtClaimsPerRouteSchema, JwtClaimsSchema } from '../proto/gen/weft/v1/jwt_pb.js';
import { KeyAuthPolicySchema, KeyAuthSchema } from '../proto/gen/weft/v1/key_auth_pb.js';
import { ApiLifecyclePolicySchema, ApiLifecycleSchema } from '../proto/gen/weft/v1/lifecycle_pb.js';
import { ValidationSchema } from '../proto/gen/weft/v1/validation_pb.js';
import { TransformationSchema } from '../proto/gen/weft/v1/transformation_pb.js';
import { AggregationFilterSchema, AggregationSchema } from '../proto/gen/weft/v1/aggregation_pb.js';
import { RateLimitSchema } from '../proto/gen/weft/v1/ratelimit_pb.js';
import { RBACSchema } from '../proto/gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js';
import { RouterSchema } from '../proto/gen/envoy/extensions/filters/http/router/v3/router_pb.js';
import { HttpConnectionManagerSchema } from '../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { DownstreamTlsContextSchema, UpstreamTlsContextSchema } from '../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { HttpProtocolOptionsSchema } from '../proto/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js';
import { TcpProxySchema } from '../proto/gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.js';
import { RBACSchema as NetworkRBACSchema } from '../proto/gen/envoy/extensions/filters/network/rbac/v3/rbac_pb.js';
import { TlsInspectorSchema } from '../proto/gen/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector_pb.js';

/** Where in a resource an extension appears. */
export type ExtensionSlot =
  | 'network_filter' // Listener filter_chains[].filters[]
  | 'listener_filter' // Listener listener_filters[]
  | 'http_filter' // HttpConnectionManager http_filters[]
  | 'per_filter_config' // VirtualHost / Route typed_per_filter_config
  | 'transport_socket' // Listener filter chain / Cluster transport socket
  | 'tracer' // HttpConnectionManager tracing.provider
  | 'protocol_options' // Cluster typed_extension_protocol_options
  | 'compression_library'; // Compressor compressor_library

export interface Extension<D extends DescMessage = DescMessage> {
  /** The name it travels under: filter / socket / tracer name, or the protocol-options key. */
  readonly name: string;
  readonly slot: ExtensionSlot;
  /** `type.googleapis.com/<full message name>` of its typed_config. */
  readonly typeUrl: string;
  readonly schema: D;
  /** Messages carried inside the typed config (an `Any` in it), for JSON rendering. */
  readonly carries: readonly DescMessage[];
  /**
   * Several entries of it may sit in one filter chain (the compressor: one per library and
   * policy), each named `<name>.<qualifier>` so routes can address each in typed_per_filter_config.
   */
  readonly instances?: boolean;
}

const PREFIX = 'type.googleapis.com/';

/** The type URL `anyPack` gives a message of this schema. */
export function typeUrlOf(schema: DescMessage): string {
  return PREFIX + schema.typeName;
}

function ext<D extends DescMessage>(name: string, slot: ExtensionSlot, schema: D, carries: readonly DescMessage[] = [], instances = false): Extension<D> {
  return Object.freeze({ name, slot, typeUrl: typeUrlOf(schema), schema, carries: Object.freeze([...carries]), ...(instances ? { instances } : {}) });
}

/** Every extension Weft emits. Keys are how code refers to them. */
export const EXTENSIONS = Object.freeze({
  httpConnectionManager: ext('envoy.filters.network.http_connection_manager', 'network_filter', HttpConnectionManagerSchema),
  /** Open connections per listener (ClientTrafficPolicy maxConnections), before the HCM in the filter chain. */
  connectionLimit: ext('envoy.filters.network.connection_limit', 'network_filter', ConnectionLimitSchema),
  /** TCP services (Service port protocol tcp, TCPRoute, TLSRoute): the last filter of a TCP chain, carrying the connection to a cluster. */
  tcpProxy: ext('envoy.filters.network.tcp_proxy', 'network_filter', TcpProxySchema),
  /** AuthorizationPolicy on a TCP service: Envoy's network RBAC before tcp_proxy (principals only; HTTP conditions cannot apply). */
  networkRbac: ext('envoy.filters.network.rbac', 'network_filter', NetworkRBACSchema),
  /** TLS passthrough at a gateway: reads the ClientHello's SNI so a filter chain can be chosen by server_names, never decrypting. */
  tlsInspector: ext('envoy.filters.listener.tls_inspector', 'listener_filter', TlsInspectorSchema),
  /** Request body size (ClientTrafficPolicy maxRequestBodyBytes); Weft counts the body as it streams instead of buffering it. */
  buffer: ext('envoy.filters.http.buffer', 'http_filter', BufferSchema),
  /** Weft's request limits Envoy has no field for (ClientTrafficPolicy maxUriLength). */
  requestLimits: ext('weft.filters.http.request_limits', 'http_filter', RequestLimitsSchema),
  router: ext('envoy.filters.http.router', 'http_filter', RouterSchema),
  rbac: ext('envoy.filters.http.rbac', 'http_filter', RBACSchema),
  grpcWeb: ext('envoy.filters.http.grpc_web', 'http_filter', GrpcWebSchema),
  grpcJsonTranscoder: ext('envoy.filters.http.grpc_json_transcoder', 'http_filter', GrpcJsonTranscoderSchema),
  /** CORS: the listener-level filter has no options; policies are per virtual host or route (corsPolicy). */
  cors: ext('envoy.filters.http.cors', 'http_filter', CorsSchema),
  corsPolicy: ext('envoy.filters.http.cors', 'per_filter_config', CorsPolicySchema),
  /** Fault injection: an empty HTTPFault on the listener (no faults); a route's HTTPFault replaces it. */
  fault: ext('envoy.filters.http.fault', 'http_filter', HTTPFaultSchema),
  faultPolicy: ext('envoy.filters.http.fault', 'per_filter_config', HTTPFaultSchema),
  /**
   * Response compression: one filter entry per compression library (gzip, brotli), each a
   * Compressor; a route turns an entry off or on with a CompressorPerRoute.
   */
  compressor: ext('envoy.filters.http.compressor', 'http_filter', CompressorSchema, [GzipSchema, BrotliSchema], true),
  compressorPerRoute: ext('envoy.filters.http.compressor', 'per_filter_config', CompressorPerRouteSchema, [], true),
  gzip: ext('envoy.compression.gzip.compressor', 'compression_library', GzipSchema),
  brotli: ext('envoy.compression.brotli.compressor', 'compression_library', BrotliSchema),
  /**
   * HTTP caching (CachePolicy): a CacheConfig whose typed_config is the store, Envoy's
   * SimpleHttpCacheConfig or Weft's MemoryHttpCacheConfig / RedisHttpCacheConfig; `disabled` on
   * a listener with no policy of its own. A route's CacheConfig replaces the listener's (a Weft
   * extension: Envoy's cache filter has no per-route config).
   */
  cache: ext('envoy.filters.http.cache', 'http_filter', CacheConfigSchema, [SimpleHttpCacheConfigSchema, MemoryHttpCacheConfigSchema, RedisHttpCacheConfigSchema]),
  cachePolicy: ext('envoy.filters.http.cache', 'per_filter_config', CacheConfigSchema, [SimpleHttpCacheConfigSchema, MemoryHttpCacheConfigSchema, RedisHttpCacheConfigSchema]),
  /**
   * API keys (ApiKeyPolicy, Consumer): the listener's KeyAuth (its own policy, or none) and a
   * route's KeyAuthPolicy, which replaces the listener's there.
   */
  keyAuth: ext('weft.filters.http.key_auth', 'http_filter', KeyAuthSchema),
  keyAuthPolicy: ext('weft.filters.http.key_auth', 'per_filter_config', KeyAuthPolicySchema),
  /**
   * Rate limits and quotas (RateLimitPolicy): a RateLimit on the listener (a policy targeting it,
   * or none: no rules) and a RateLimit per route (a rule's ExtensionRef), which replaces it.
   */
  rateLimit: ext('weft.filters.http.ratelimit', 'http_filter', RateLimitSchema),
  rateLimitPolicy: ext('weft.filters.http.ratelimit', 'per_filter_config', RateLimitSchema),
  /** Weft's gRPC -> HTTP/JSON translation: the filter (no options, is_optional) ... */
  grpcJsonReverseFilter: ext('weft.filters.http.grpc_json_reverse', 'http_filter', GrpcJsonReverseSchema),
  /** ... and its config per virtual host: a FilterConfig (is_optional) around a GrpcJsonTranscoder. */
  grpcJsonReverse: ext('weft.filters.http.grpc_json_reverse', 'per_filter_config', FilterConfigSchema, [GrpcJsonTranscoderSchema]),
  /**
   * JWT authentication (JwtPolicy): Envoy's jwt_authn with every provider the listener's routes
   * need and one requirement per policy (requirement_map); a route names its requirement with a
   * PerRouteConfig. Remote JWKS are fetched through a cluster the control plane emits for them.
   */
  jwtAuthn: ext('envoy.filters.http.jwt_authn', 'http_filter', JwtAuthenticationSchema),
  jwtAuthnPerRoute: ext('envoy.filters.http.jwt_authn', 'per_filter_config', JwtPerRouteConfigSchema),
  /** Scope and claim requirements on the verified JWT (weft/v1/jwt.proto), right after jwt_authn. */
  jwtClaims: ext('weft.filters.http.jwt_claims', 'http_filter', JwtClaimsSchema),
  jwtClaimsPerRoute: ext('weft.filters.http.jwt_claims', 'per_filter_config', JwtClaimsPerRouteSchema),
  /**
   * API version lifecycle (ApiLifecyclePolicy): the listener filter has no options; a virtual
   * host's or route's ApiLifecyclePolicy turns it on there (Deprecation, Sunset, Link headers;
   * 410 after the sunset when asked).
   */
  apiLifecycle: ext('weft.filters.http.api_lifecycle', 'http_filter', ApiLifecycleSchema),
  apiLifecyclePolicy: ext('weft.filters.http.api_lifecycle', 'per_filter_config', ApiLifecyclePolicySchema),
  /** Request validation (ValidationPolicy): the listener's config, and a route's or virtual host's that replaces it. */
  validation: ext('weft.filters.http.validation', 'http_filter', ValidationSchema),
  validationPolicy: ext('weft.filters.http.validation', 'per_filter_config', ValidationSchema),
  /** Request and response transformation (TransformationPolicy): the same two places. */
  transformation: ext('weft.filters.http.transformation', 'http_filter', TransformationSchema),
  transformationPolicy: ext('weft.filters.http.transformation', 'per_filter_config', TransformationSchema),
  /** Weft's composed endpoints (AggregationPolicy): the filter (no options, is_optional) ... */
  aggregationFilter: ext('weft.filters.http.aggregation', 'http_filter', AggregationFilterSchema),
  /** ... and a route's composition (typed_per_filter_config), which makes the route answer with it. */
  aggregation: ext('weft.filters.http.aggregation', 'per_filter_config', AggregationSchema),
  downstreamTls: ext('envoy.transport_sockets.tls', 'transport_socket', DownstreamTlsContextSchema),
  upstreamTls: ext('envoy.transport_sockets.tls', 'transport_socket', UpstreamTlsContextSchema),
  openTelemetry: ext('envoy.tracers.opentelemetry', 'tracer', OpenTelemetryConfigSchema),
  httpProtocolOptions: ext('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', 'protocol_options', HttpProtocolOptionsSchema),
});

/** The list, in declaration order. */
export const EXTENSION_LIST: readonly Extension[] = Object.freeze(Object.values(EXTENSIONS));

/** Every message schema an extension's typed config can hold (for protobuf registries). */
export const EXTENSION_SCHEMAS: readonly DescMessage[] = Object.freeze([...new Set(EXTENSION_LIST.flatMap((e) => [e.schema, ...e.carries]))]);

const BY_TYPE_URL: ReadonlyMap<string, DescMessage> = new Map(EXTENSION_SCHEMAS.map((s) => [typeUrlOf(s), s]));

/** The schema of a typed config Weft emits, by type URL; undefined for one Weft does not know. */
export function schemaByTypeUrl(typeUrl: string): DescMessage | undefined {
  return BY_TYPE_URL.get(typeUrl);
}

/**
 * Whether an extension with this name and typed_config type URL is one Weft knows in that slot
 * (an extension with `instances` under any `<name>.<qualifier>` too).
 * A decoder that meets an unknown one in a non-optional position must refuse the resource.
 */
export function isKnownExtension(slot: ExtensionSlot, name: string, typeUrl: string): boolean {
  return EXTENSION_LIST.some((e) => e.slot === slot && (e.name === name || (e.instances === true && name.startsWith(`${e.name}.`))) && e.typeUrl === typeUrl);
}

/**
 * Whether a typed config is this extension's message. Like Envoy, only the part after the last '/'
 * counts (an `Any` type URL may carry another prefix than type.googleapis.com).
 */
export function isExtensionConfig(typeUrl: string, e: Extension): boolean {
  return isMessageType(typeUrl, e.schema);
}

/** Whether an `Any` with this type URL holds a message of this schema (the name after the last '/'). */
export function isMessageType(typeUrl: string, schema: DescMessage): boolean {
  const slash = typeUrl.lastIndexOf('/');
  return slash >= 0 && typeUrl.slice(slash + 1) === schema.typeName;
}

/** `Any` holding an extension's typed config. */
export function packExtension<D extends DescMessage>(e: Extension<D>, init?: MessageInitShape<D>): Any {
  return anyPack(e.schema, create(e.schema, init));
}

/** `{ name, typed_config }` for a filter, transport socket or tracer entry. */
export function typedExtension<D extends DescMessage>(e: Extension<D>, init?: MessageInitShape<D>): { name: string; configType: { case: 'typedConfig'; value: Any } } {
  return { name: e.name, configType: { case: 'typedConfig', value: packExtension(e, init) } };
}
