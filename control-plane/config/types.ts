/**
 * The validated configuration model: what `weft apply` accepts after validation, with defaults
 * filled and durations in milliseconds. Everything downstream (store, translate, admin) works on
 * these shapes; raw YAML never travels further than config/validate.
 *
 * Kinds follow the Kubernetes Gateway API where one exists (Gateway; HTTPRoute, GRPCRoute, attached
 * to a Service through parentRefs as in GAMMA, or to a Gateway's listeners) and mesh conventions elsewhere. Field names are the
 * user-facing YAML names (camelCase), so a stored resource reads back exactly as applied.
 */

export { API_VERSION_WEFT, API_VERSION_GATEWAY } from './api-versions.js';
// The mesh, gateway and API-gateway policies' specs live in files of their own.
export * from './types-mesh.js';
import type { AuthorizationPolicySpec, FaultPolicySpec, MeshConfigSpec, MtlsMode, TrafficPolicySpec } from './types-mesh.js';
export * from './types-gateway.js';
export * from './types-api.js';
import type { CachePolicySpec, ClientTrafficPolicySpec, CompressionPolicySpec, CorsPolicySpec, CorsRules, SecurityHeadersPolicySpec } from './types-gateway.js';
import type { AggregationPolicySpec, ApiKeyPolicySpec, ApiLifecyclePolicySpec, ConsumerSpec, JwtPolicySpec, RateLimitPolicySpec, TransformationPolicySpec, ValidationPolicySpec } from './types-api.js';

/** Every kind has one definition in kinds/index.ts (a compile-time check there keeps them in step). */
export type Kind =
  | 'Service' | 'HTTPRoute' | 'GRPCRoute' | 'TrafficPolicy' | 'AuthorizationPolicy' | 'GRPCTranslation' | 'MeshConfig' | 'FaultPolicy' | 'CorsPolicy' | 'CachePolicy' | 'Gateway'
  | 'Secret' | 'CompressionPolicy' | 'ClientTrafficPolicy' | 'SecurityHeadersPolicy'
  | 'TCPRoute' | 'TLSRoute'
  | 'JwtPolicy'
  | 'Consumer' | 'ApiKeyPolicy'
  | 'ApiLifecyclePolicy'
  | 'ValidationPolicy' | 'TransformationPolicy'
  | 'AggregationPolicy'
  | 'RateLimitPolicy';

export interface ObjectMeta {
  name: string;
  /** Defaults to 'default'. MeshConfig is cluster-scoped and always 'default'. */
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

// ---------------------------------------------------------------------------------------- Service

/** A Service port's protocol: HTTP-family (http, http2, grpc), carried by the HCM, or tcp, carried by tcp_proxy. */
export type AppProtocol = 'http' | 'http2' | 'grpc' | 'tcp';
/** The protocols an HTTP connection manager carries. */
export type HttpAppProtocol = Exclude<AppProtocol, 'tcp'>;

export interface ServicePort {
  name: string;
  port: number;
  protocol: AppProtocol;
}

/** An endpoint named in config (for services without sidecars: databases, external APIs, tests). */
export interface StaticEndpoint {
  /** IP literal (v4 or v6). */
  address: string;
  /** Defaults to the service port's number. */
  port?: number;
  labels: Record<string, string>;
  zone?: string;
  /** Load-balancing weight, 1..128; default 1. */
  weight: number;
}

/**
 * A TCP service this service's instances call (Consul Connect's "upstreams"): TCP carries no Host
 * header, so the destination is fixed per local port; the sidecar listens on bindAddress:localPort
 * and carries each connection to an instance of the upstream over mTLS.
 */
export interface ServiceUpstream {
  service: string;
  /** Defaults to the Service's own namespace. */
  namespace: string;
  /** A tcp port of the upstream; absent when it has exactly one (then that one). */
  port?: number;
  localPort: number;
  /** An IP literal; default 127.0.0.1. */
  bindAddress: string;
}

export interface ServiceSpec {
  ports: ServicePort[];
  endpoints: StaticEndpoint[];
  /** The TCP services its instances call (absent when none are declared). */
  upstreams?: ServiceUpstream[];
  /** Overrides MeshConfig spec.mtls for this service's inbound listener. */
  mtls?: { mode: MtlsMode };
}

// ----------------------------------------------------------------------------------- shared route

/** What a route attaches to: a Service (GAMMA mesh route) or a Gateway (edge route). */
export type ParentRef = ServiceParentRef | GatewayParentRef;

/** GAMMA: the route applies to traffic the mesh sends to this service. */
export interface ServiceParentRef {
  kind: 'Service';
  name: string;
  namespace: string;
  /** Restrict to one service port; all ports when absent. */
  port?: number;
}

/** Gateway API: the route serves requests arriving at listeners of this Gateway. */
export interface GatewayParentRef {
  kind: 'Gateway';
  name: string;
  /** Defaults to the route's namespace. */
  namespace: string;
  /** Only the listener of this name; every listener when absent. */
  sectionName?: string;
  /** Only listeners on this port; every port when absent. */
  port?: number;
}

export interface BackendRef {
  name: string;
  namespace: string;
  /** Service port; required when the service has several ports. */
  port?: number;
  /** Relative weight, 0..1,000,000; default 1. */
  weight: number;
  /** Weft extension: a subset defined by a TrafficPolicy on that service (e.g. by version label). */
  subset?: string;
}

export interface HeaderValue {
  name: string;
  value: string;
}

export interface HeaderModifier {
  set: HeaderValue[];
  add: HeaderValue[];
  remove: string[];
}

export type StringMatchType = 'Exact' | 'RegularExpression';

export interface HeaderMatch {
  type: StringMatchType;
  name: string;
  value: string;
}

export interface RouteTimeouts {
  /** Whole request, including retries (ms). */
  request?: number;
  /** One attempt (ms). */
  backendRequest?: number;
}

export interface RetryBackoff {
  baseIntervalMs: number;
  maxIntervalMs: number;
}

export interface RetryPolicy {
  /** Total attempts including the first (Envoy num_retries = attempts - 1). */
  attempts: number;
  /** Envoy retry_on conditions, e.g. '5xx', 'gateway-error', 'reset', 'connect-failure',
   *  'retriable-4xx', 'refused-stream', 'retriable-status-codes', 'cancelled', 'deadline-exceeded',
   *  'unavailable', 'resource-exhausted'. */
  retryOn: string[];
  /** HTTP status codes retried under 'retriable-status-codes'. */
  codes: number[];
  perTryTimeoutMs?: number;
  backoff?: RetryBackoff;
}

export interface RequestMirror {
  backendRef: BackendRef;
  /** The share of requests mirrored, from `percent` (n/100) or `fraction`; 100 % when neither is set. */
  fraction: { numerator: number; denominator: number };
}

/** The policy kinds a route rule may name in an ExtensionRef (kinds/policy-attachment.ts). */
export type ExtensionRefKind =
  | 'FaultPolicy' | 'CorsPolicy' | 'CompressionPolicy' | 'SecurityHeadersPolicy' | 'CachePolicy'
  | 'JwtPolicy'
  | 'ApiKeyPolicy'
  | 'ApiLifecyclePolicy'
  | 'ValidationPolicy' | 'TransformationPolicy'
  | 'AggregationPolicy'
  | 'RateLimitPolicy';

/** A Gateway API ExtensionRef route filter (LocalObjectReference: the route's namespace) naming one of Weft's policies. */
export interface ExtensionRef {
  group: 'weft.dev';
  kind: ExtensionRefKind;
  name: string;
}

/**
 * A policy's target (GEP-713 targetRefs), in the policy's namespace: a Gateway or one of its
 * listeners (the gateway's listeners enforce it), or, for the kinds that also act in the mesh, a
 * Service (its sidecars' inbound listener enforces it, whoever calls).
 */
export type PolicyTargetRef =
  | { group: 'gateway.networking.k8s.io'; kind: 'Gateway'; name: string; sectionName?: string }
  | { group: 'weft.dev'; kind: 'Service'; name: string; sectionName?: undefined };

// ------------------------------------------------------------------------------------- HTTPRoute

export type PathMatchType = 'PathPrefix' | 'Exact' | 'RegularExpression';

export interface HTTPRouteMatch {
  path?: { type: PathMatchType; value: string };
  headers: HeaderMatch[];
  queryParams: HeaderMatch[];
  method?: string;
}

export type HTTPRouteFilter =
  | { type: 'RequestHeaderModifier'; requestHeaderModifier: HeaderModifier }
  | { type: 'ResponseHeaderModifier'; responseHeaderModifier: HeaderModifier }
  /** Gateway API CORS (GEP-1767), read into the same rules as a CorsPolicy. */
  | { type: 'CORS'; cors: CorsRules }
  | {
      type: 'URLRewrite';
      urlRewrite: {
        hostname?: string;
        path?: { type: 'ReplaceFullPath'; replaceFullPath: string } | { type: 'ReplacePrefixMatch'; replacePrefixMatch: string };
      };
    }
  | {
      type: 'RequestRedirect';
      requestRedirect: {
        scheme?: 'http' | 'https';
        hostname?: string;
        port?: number;
        path?: { type: 'ReplaceFullPath'; replaceFullPath: string } | { type: 'ReplacePrefixMatch'; replacePrefixMatch: string };
        /** 301, 302, 303, 307 or 308; default 302. */
        statusCode: number;
      };
    }
  | { type: 'RequestMirror'; requestMirror: RequestMirror }
  | { type: 'ExtensionRef'; extensionRef: ExtensionRef };

export interface HTTPRouteRule {
  /** Empty means "match everything" (a single PathPrefix '/'). */
  matches: HTTPRouteMatch[];
  filters: HTTPRouteFilter[];
  backendRefs: BackendRef[];
  timeouts?: RouteTimeouts;
  retry?: RetryPolicy;
}

export interface HTTPRouteSpec {
  parentRefs: ParentRef[];
  /** Extra host names this route answers for, besides the parent service's own names. */
  hostnames: string[];
  rules: HTTPRouteRule[];
}

// ------------------------------------------------------------------------------------- GRPCRoute

export interface GRPCMethodMatch {
  type: StringMatchType;
  /** Fully qualified service, e.g. 'helloworld.Greeter'; any when absent. */
  service?: string;
  /** Method name, e.g. 'SayHello'; any when absent. */
  method?: string;
}

export interface GRPCRouteMatch {
  method?: GRPCMethodMatch;
  headers: HeaderMatch[];
}

export type GRPCRouteFilter =
  | { type: 'RequestHeaderModifier'; requestHeaderModifier: HeaderModifier }
  | { type: 'ResponseHeaderModifier'; responseHeaderModifier: HeaderModifier }
  | { type: 'RequestMirror'; requestMirror: RequestMirror }
  | { type: 'ExtensionRef'; extensionRef: ExtensionRef };

export interface GRPCRouteRule {
  matches: GRPCRouteMatch[];
  filters: GRPCRouteFilter[];
  backendRefs: BackendRef[];
  timeouts?: RouteTimeouts;
  retry?: RetryPolicy;
}

export interface GRPCRouteSpec {
  parentRefs: ParentRef[];
  hostnames: string[];
  rules: GRPCRouteRule[];
}

// ---------------------------------------------------------------------------- TCPRoute, TLSRoute

/** A TCPRoute or TLSRoute rule: where connections go (no matches: layer 4 has nothing to match on but SNI). */
export interface L4RouteRule {
  backendRefs: BackendRef[];
}

/** TCPRoute (Gateway API v1alpha2): every connection to the Gateway's TCP listeners it attaches to goes to its backends. */
export interface TCPRouteSpec {
  parentRefs: GatewayParentRef[];
  rules: L4RouteRule[];
}

/** TLSRoute (Gateway API v1alpha2): TLS connections to TLS (passthrough) listeners, chosen by SNI. */
export interface TLSRouteSpec {
  parentRefs: GatewayParentRef[];
  /** SNI names (exact or `*.suffix`), intersected with the listener's hostname; any SNI when empty. */
  hostnames: string[];
  rules: L4RouteRule[];
}

// --------------------------------------------------------------------------------------- Gateway

/** Listener protocols Weft serves (UDP is refused until it exists): HTTP-family, or layer 4 (TCP, TLS passthrough). */
export type GatewayProtocol = 'HTTP' | 'HTTPS' | 'TCP' | 'TLS';

export interface GatewayListener {
  /** Unique within the Gateway; routes select it with parentRefs[].sectionName. */
  name: string;
  port: number;
  protocol: GatewayProtocol;
  /** A precise host name or a `*.suffix` wildcard; any host when absent. */
  hostname?: string;
  /** Routes of which namespaces may attach: the Gateway's own (Same, the default) or any (All). */
  allowedRoutes: { namespaces: { from: 'Same' | 'All' } };
  /**
   * HTTPS: TLS terminated with these certificates (Secrets of the Gateway's namespace). TLS: passed
   * through untouched to the backend chosen by SNI (no certificates: nothing is decrypted).
   */
  tls?: { mode: 'Terminate'; certificateRefs: Array<{ name: string }> } | { mode: 'Passthrough'; certificateRefs?: undefined };
}

/** Gateway (Gateway API): the listeners a `weft gateway` process serves at the edge. */
export interface GatewaySpec {
  gatewayClassName: 'weft';
  listeners: GatewayListener[];
}

// ------------------------------------------------------------------------------------- resources

interface ResourceBase<K extends Kind, S> {
  apiVersion: string;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
  /**
   * The document as the user applied it (namespace filled in): what the store keeps and
   * `weft get -o yaml` shows, so it validates again on restart and can be re-applied. `spec`
   * is the normalised form (durations in ms, defaults filled) the control plane works with.
   */
  source?: Record<string, unknown>;
  /** Observed state, added by the admin API when it hands the resource out (never stored). */
  status?: S extends GatewaySpec ? GatewayStatus : undefined;
}

/** A certificate a Gateway listener serves, as `weft get gateway` shows it. */
export interface ListenerCertificate {
  secret: string;
  names: string[];
  notAfter: string;
  daysLeft: number;
}
export interface GatewayStatus {
  listeners: Array<{ name: string; certificates: ListenerCertificate[] }>;
}

export type ServiceResource = ResourceBase<'Service', ServiceSpec>;
export type HTTPRouteResource = ResourceBase<'HTTPRoute', HTTPRouteSpec>;
export type GRPCRouteResource = ResourceBase<'GRPCRoute', GRPCRouteSpec>;
export type TCPRouteResource = ResourceBase<'TCPRoute', TCPRouteSpec>;
export type TLSRouteResource = ResourceBase<'TLSRoute', TLSRouteSpec>;
export type TrafficPolicyResource = ResourceBase<'TrafficPolicy', TrafficPolicySpec>;
export type MeshConfigResource = ResourceBase<'MeshConfig', MeshConfigSpec>;

export type AuthorizationPolicyResource = ResourceBase<'AuthorizationPolicy', AuthorizationPolicySpec>;

/** GRPCTranslation: HTTP/JSON clients of a gRPC service (the inbound grpc_json_transcoder). */
export interface GRPCTranslationSpec {
  /** The Weft Service (same namespace): it speaks gRPC (jsonToGrpc) or HTTP/JSON (grpcToJson). */
  service: string;
  direction: 'jsonToGrpc' | 'grpcToJson';
  /** A google.protobuf.FileDescriptorSet, base64. */
  descriptorSet: string;
  /** Fully qualified protobuf services to expose. */
  protoServices: string[];
  ignoredQueryParameters: string[];
  /** `POST /pkg.Service/Method` for methods without a google.api.http rule (default true). */
  autoMapping: boolean;
}
export type GRPCTranslationResource = ResourceBase<'GRPCTranslation', GRPCTranslationSpec>;
export type FaultPolicyResource = ResourceBase<'FaultPolicy', FaultPolicySpec>;
export type CorsPolicyResource = ResourceBase<'CorsPolicy', CorsPolicySpec>;
export type CachePolicyResource = ResourceBase<'CachePolicy', CachePolicySpec>;
export type GatewayResource = ResourceBase<'Gateway', GatewaySpec>;
/** Secret (v1, type kubernetes.io/tls): a certificate chain and its key, PEM. */
export interface SecretSpec {
  type: 'kubernetes.io/tls';
  certificatePem: string;
  privateKeyPem: string;
}
export type SecretResource = ResourceBase<'Secret', SecretSpec>;
export type CompressionPolicyResource = ResourceBase<'CompressionPolicy', CompressionPolicySpec>;
export type ClientTrafficPolicyResource = ResourceBase<'ClientTrafficPolicy', ClientTrafficPolicySpec>;
export type SecurityHeadersPolicyResource = ResourceBase<'SecurityHeadersPolicy', SecurityHeadersPolicySpec>;
export type JwtPolicyResource = ResourceBase<'JwtPolicy', JwtPolicySpec>;
export type ConsumerResource = ResourceBase<'Consumer', ConsumerSpec>;
export type ApiKeyPolicyResource = ResourceBase<'ApiKeyPolicy', ApiKeyPolicySpec>;
export type ApiLifecyclePolicyResource = ResourceBase<'ApiLifecyclePolicy', ApiLifecyclePolicySpec>;
export type ValidationPolicyResource = ResourceBase<'ValidationPolicy', ValidationPolicySpec>;
export type TransformationPolicyResource = ResourceBase<'TransformationPolicy', TransformationPolicySpec>;
export type AggregationPolicyResource = ResourceBase<'AggregationPolicy', AggregationPolicySpec>;
export type RateLimitPolicyResource = ResourceBase<'RateLimitPolicy', RateLimitPolicySpec>;
export type MeshResource =
  | ServiceResource | HTTPRouteResource | GRPCRouteResource | TrafficPolicyResource | AuthorizationPolicyResource | GRPCTranslationResource | MeshConfigResource | FaultPolicyResource | CorsPolicyResource | CachePolicyResource | GatewayResource
  | SecretResource | CompressionPolicyResource | ClientTrafficPolicyResource | SecurityHeadersPolicyResource
  | TCPRouteResource | TLSRouteResource
  | JwtPolicyResource
  | ConsumerResource | ApiKeyPolicyResource
  | ApiLifecyclePolicyResource
  | ValidationPolicyResource | TransformationPolicyResource
  | AggregationPolicyResource
  | RateLimitPolicyResource;

/** `Kind/namespace/name`: the identity of a resource in the store and in messages. */
export type ResourceKey = string;

/**
 * The whole validated configuration at one moment. Immutable: a change produces a new model.
 * `revision` increases with every committed change (the store's revision).
 */
export interface MeshModel {
  readonly revision: number;
  readonly resources: ReadonlyMap<ResourceKey, MeshResource>;
  readonly services: ReadonlyMap<ResourceKey, ServiceResource>;
  readonly httpRoutes: readonly HTTPRouteResource[];
  readonly grpcRoutes: readonly GRPCRouteResource[];
  /** TCPRoutes and TLSRoutes (Gateway listeners only), sorted by key. */
  readonly tcpRoutes: readonly TCPRouteResource[];
  readonly tlsRoutes: readonly TLSRouteResource[];
  /** TrafficPolicy by target Service key (`Service/ns/name`); at most one per service. */
  readonly trafficPolicies: ReadonlyMap<ResourceKey, TrafficPolicyResource>;
  /** AuthorizationPolicies, sorted by key. */
  readonly authorizationPolicies: readonly AuthorizationPolicyResource[];
  /** GRPCTranslation by target Service key (`Service/ns/name`); at most one per service. */
  readonly grpcTranslations: ReadonlyMap<ResourceKey, GRPCTranslationResource>;
  /** FaultPolicy by its own key (`FaultPolicy/ns/name`). */
  readonly faultPolicies: ReadonlyMap<ResourceKey, FaultPolicyResource>;
  /** CorsPolicy by its own key (`CorsPolicy/ns/name`). */
  readonly corsPolicies: ReadonlyMap<ResourceKey, CorsPolicyResource>;
  /** CachePolicy by its own key (`CachePolicy/ns/name`). */
  readonly cachePolicies: ReadonlyMap<ResourceKey, CachePolicyResource>;
  /** Gateway by its own key (`Gateway/ns/name`). */
  readonly gateways: ReadonlyMap<ResourceKey, GatewayResource>;
  /** Secret by its own key (`Secret/ns/name`). */
  readonly secrets: ReadonlyMap<ResourceKey, SecretResource>;
  /** CompressionPolicy by its own key (`CompressionPolicy/ns/name`). */
  readonly compressionPolicies: ReadonlyMap<ResourceKey, CompressionPolicyResource>;
  /** ClientTrafficPolicy by its own key (at most one per target: kinds/policy-attachment.ts). */
  readonly clientTrafficPolicies: ReadonlyMap<ResourceKey, ClientTrafficPolicyResource>;
  /** SecurityHeadersPolicy by its own key. */
  readonly securityHeadersPolicies: ReadonlyMap<ResourceKey, SecurityHeadersPolicyResource>;
  /** JwtPolicy by its own key (`JwtPolicy/ns/name`). */
  readonly jwtPolicies: ReadonlyMap<ResourceKey, JwtPolicyResource>;
  /** Consumer by its own key (`Consumer/ns/name`). */
  readonly consumers: ReadonlyMap<ResourceKey, ConsumerResource>;
  /** ApiKeyPolicy by its own key (`ApiKeyPolicy/ns/name`). */
  readonly apiKeyPolicies: ReadonlyMap<ResourceKey, ApiKeyPolicyResource>;
  /** ApiLifecyclePolicy by its own key (`ApiLifecyclePolicy/ns/name`). */
  readonly apiLifecyclePolicies: ReadonlyMap<ResourceKey, ApiLifecyclePolicyResource>;
  /** ValidationPolicy by its own key. */
  readonly validationPolicies: ReadonlyMap<ResourceKey, ValidationPolicyResource>;
  /** TransformationPolicy by its own key. */
  readonly transformationPolicies: ReadonlyMap<ResourceKey, TransformationPolicyResource>;
  /** AggregationPolicy by its own key (`AggregationPolicy/ns/name`). */
  readonly aggregationPolicies: ReadonlyMap<ResourceKey, AggregationPolicyResource>;
  /** RateLimitPolicy by its own key. */
  readonly rateLimitPolicies: ReadonlyMap<ResourceKey, RateLimitPolicyResource>;
  readonly mesh: MeshConfigSpec;
}
