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

/** Every kind has one definition in kinds/index.ts (a compile-time check there keeps them in step). */
export type Kind =
  | 'Service' | 'HTTPRoute' | 'GRPCRoute' | 'TrafficPolicy' | 'AuthorizationPolicy' | 'GRPCTranslation' | 'MeshConfig' | 'FaultPolicy' | 'CorsPolicy' | 'CachePolicy' | 'Gateway'
  | 'Secret' | 'CompressionPolicy' | 'ClientTrafficPolicy' | 'SecurityHeadersPolicy'
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

export type AppProtocol = 'http' | 'http2' | 'grpc';

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

export interface ServiceSpec {
  ports: ServicePort[];
  endpoints: StaticEndpoint[];
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

// --------------------------------------------------------------------------------- TrafficPolicy

export type LoadBalancerType = 'RoundRobin' | 'LeastRequest' | 'Random' | 'RingHash';

export interface RingHashConfig {
  /** What the hash key is taken from. */
  hashOn: 'header' | 'cookie' | 'sourceIP';
  header?: string;
  cookie?: { name: string; ttlMs?: number; path?: string };
  minRingSize: number;
  maxRingSize: number;
}

export interface LoadBalancerConfig {
  type: LoadBalancerType;
  ringHash?: RingHashConfig;
  /** LeastRequest: how many endpoints to sample (power of two choices = 2). */
  choiceCount: number;
  /** Prefer endpoints in the caller's zone; spill over when too few are healthy. */
  localityAware: boolean;
  /** Below this % of healthy endpoints, balance across all of them (Envoy healthy_panic_threshold). */
  panicThresholdPercent: number;
}

export interface Subset {
  name: string;
  labels: Record<string, string>;
}

export interface ConnectionPool {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
  connectTimeoutMs: number;
  idleTimeoutMs?: number;
}

export interface OutlierDetection {
  consecutive5xx: number;
  consecutiveGatewayErrors: number;
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionPercent: number;
}

export interface HealthCheck {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  unhealthyThreshold: number;
  healthyThreshold: number;
  /** Status ranges counted as healthy, [start, end) as in Envoy; default [[200, 400)]. */
  expectedStatuses: Array<[number, number]>;
}

export interface RetryBudget {
  /** Max % of active requests that may be retries. */
  budgetPercent: number;
  minRetryConcurrency: number;
}

export interface TrafficPolicySpec {
  targetRef: { kind: 'Service'; name: string; namespace: string };
  loadBalancer: LoadBalancerConfig;
  subsets: Subset[];
  connectionPool?: ConnectionPool;
  outlierDetection?: OutlierDetection;
  healthCheck?: HealthCheck;
  /** Default retry policy for routes to this service that set none. */
  retry?: RetryPolicy & { budget?: RetryBudget };
  /** Default request timeout (ms) for routes to this service that set none. */
  timeoutMs?: number;
}

// --------------------------------------------------------------------------- AuthorizationPolicy

/** A string match: exact, `prefix*`, `*suffix`, or `*` (anything present). */
export type NameMatch = string;

export interface AuthzSource {
  principals?: NameMatch[];
  notPrincipals?: NameMatch[];
  namespaces?: NameMatch[];
  notNamespaces?: NameMatch[];
}

export interface AuthzOperation {
  paths?: NameMatch[];
  notPaths?: NameMatch[];
  methods?: string[];
  notMethods?: string[];
}

export interface AuthzCondition {
  /** Lowercase header name. */
  header: string;
  values?: NameMatch[];
  notValues?: NameMatch[];
}

export interface AuthzRule {
  from: AuthzSource[];
  to: AuthzOperation[];
  when: AuthzCondition[];
}

export interface AuthorizationPolicySpec {
  /** Destination service in the policy's namespace; '*' = every service there. */
  service: string;
  action: 'ALLOW' | 'DENY';
  rules: AuthzRule[];
}

// --------------------------------------------------------------------------------------- Gateway

/** Listener protocols Weft serves today (HTTPS, TLS, TCP and UDP are refused until they exist). */
export type GatewayProtocol = 'HTTP' | 'HTTPS';

export interface GatewayListener {
  /** Unique within the Gateway; routes select it with parentRefs[].sectionName. */
  name: string;
  port: number;
  protocol: GatewayProtocol;
  /** A precise host name or a `*.suffix` wildcard; any host when absent. */
  hostname?: string;
  /** Routes of which namespaces may attach: the Gateway's own (Same, the default) or any (All). */
  allowedRoutes: { namespaces: { from: 'Same' | 'All' } };
  /** HTTPS: TLS terminated with these certificates (Secrets of the Gateway's namespace). */
  tls?: { mode: 'Terminate'; certificateRefs: Array<{ name: string }> };
}

/** Gateway (Gateway API): the listeners a `weft gateway` process serves at the edge. */
export interface GatewaySpec {
  gatewayClassName: 'weft';
  listeners: GatewayListener[];
}

// ----------------------------------------------------------------------------------- FaultPolicy

/** Percent of requests, 0..100 with at most 4 decimals. */
export type FaultPercentage = number;

export type FaultDelay =
  | { fixedDelayMs: number; percentage: FaultPercentage }
  /** Envoy header_delay: the delay (ms) comes from the request's x-envoy-fault-delay-request header. */
  | { fromHeader: true; percentage: FaultPercentage };

export type FaultAbort =
  | { httpStatus: number; percentage: FaultPercentage }
  | { grpcStatus: number; percentage: FaultPercentage }
  /** Envoy header_abort: the status comes from the request's x-envoy-fault-abort-request (or -grpc-request) header. */
  | { fromHeader: true; percentage: FaultPercentage };

/** Faults injected into requests of the route rules that reference the policy (ExtensionRef). */
export interface FaultPolicySpec {
  delay?: FaultDelay;
  abort?: FaultAbort;
  /** At most this many requests faulted at once (Envoy max_active_faults); unlimited when absent. */
  maxActiveFaults?: number;
}

// ------------------------------------------------------------------------------------- JwtPolicy

/** Where a provider's keys come from: fetched over HTTPS (cached), or inline. */
export interface RemoteJwksSpec {
  /** https URI of the JWKS document. */
  uri: string;
  /** PEM roots that verify the JWKS server's certificate (never skipped). */
  caCertificates: string;
  /** How long fetched keys are used before they are fetched again (ms). */
  cacheDurationMs: number;
  /** How long one fetch may take (ms). */
  timeoutMs: number;
}

export interface JwtProviderSpec {
  name: string;
  /** Required `iss`; '' accepts any issuer. */
  issuer: string;
  /** Accepted `aud` values (one must match); empty accepts any. */
  audiences: string[];
  remoteJwks?: RemoteJwksSpec;
  /** A JWKS document (JSON) given inline. */
  localJwks?: string;
  fromHeaders: Array<{ name: string; valuePrefix: string }>;
  fromParams: string[];
  fromCookies: string[];
  clockSkewSeconds: number;
  claimToHeaders: Array<{ claim: string; header: string }>;
  /** Keep the token (its header) for the upstream; default false: removed after verification. */
  forward: boolean;
}

/** Who may come in: a JWT verified by one of `providers`, or (allowMissing) none at all. */
export interface JwtRequirementSpec {
  /** Provider names of this policy; one verified token suffices (Envoy requires_any). */
  providers: string[];
  /** A request without any token passes (a token that fails still gets 401). */
  allowMissing: boolean;
  /** Also a token that fails verification passes (it is stripped of nothing; info only). */
  allowFailed: boolean;
  /** Scopes the token must grant (`scope`, space-separated, or `scp`). */
  scopes: string[];
  /** Claims the token must carry: a dotted claim path equal to one of the values. */
  claims: Array<{ name: string; values: string[] }>;
}

/** JwtPolicy (weft.dev/v1alpha1): JWT authentication at gateways and sidecars (Envoy jwt_authn). */
export interface JwtPolicySpec {
  providers: JwtProviderSpec[];
  requirement: JwtRequirementSpec;
  targetRefs: PolicyTargetRef[];
}

// ----------------------------------------------------------------------------- AggregationPolicy

/** One sub-request of an AggregationPolicy (kinds/aggregation-policy.ts). */
export interface AggregationCall {
  name: string;
  method: string;
  /** The path template (common/aggregation-template.ts), checked at apply. */
  path: string;
  /** :authority of the sub-request; undefined: the incoming request's. */
  host?: string;
  /** Incoming request headers passed on (lowercase). */
  headers: string[];
  timeoutMs: number;
  optional: boolean;
  dependsOn: string[];
}

export interface AggregationPolicySpec {
  /** The incoming path's `{NAME}` segments; undefined: no `{path.*}` placeholders. */
  pathTemplate?: string;
  calls: AggregationCall[];
  /** Largest body taken from one call. */
  maxCallBodyBytes: number;
}

// ------------------------------------------------------------------------------------ CorsPolicy

/** An allowed Origin (Envoy StringMatcher): exactly one form; `regex` must match the whole origin. */
export type OriginMatch = { exact: string } | { prefix: string } | { suffix: string } | { regex: string };

/**
 * Cross-origin resource sharing answered at the gateway (Envoy's CORS filter): for the route rules
 * that name it in an ExtensionRef, or for the Gateways / listeners its targetRefs name.
 */
export interface CorsPolicySpec {
  allowOrigins: OriginMatch[];
  /** Methods a preflight allows (access-control-allow-methods); `*` echoes the asked method. */
  allowMethods: string[];
  /** Request headers a preflight allows; `*` echoes the asked headers. */
  allowHeaders: string[];
  /** Response headers the page may read (access-control-expose-headers). */
  exposeHeaders: string[];
  allowCredentials: boolean;
  /** Seconds a browser may cache a preflight (access-control-max-age); absent: the browser's default. */
  maxAgeSeconds?: number;
  /** Answer Chrome's Private Network Access preflights (access-control-allow-private-network). */
  allowPrivateNetworkAccess: boolean;
  targetRefs: PolicyTargetRef[];
}

/** What a CorsPolicy or a Gateway API CORS filter says about requests (the attachment aside). */
export type CorsRules = Omit<CorsPolicySpec, 'targetRefs'>;

// ---------------------------------------------------------------------- Consumer, ApiKeyPolicy

/** One API key of a Consumer: only its SHA-256 is stored (the key itself is shown once, when issued). */
export interface ConsumerKey {
  /** Names the key in listings and `weft key revoke` (not secret). */
  id: string;
  /** `sha256:<64 lowercase hex>` of the whole key string. */
  hash: string;
  /** RFC 3339 time the key was issued (informational). */
  created?: string;
  /** RFC 3339 time after which the proxy refuses the key; absent: it does not expire. */
  expires?: string;
}

/** A verified JWT (issuer, subject) that authenticates as this Consumer. */
export interface JwtSubjectRef {
  issuer: string;
  subject: string;
}

/** Consumer: who calls an API (by API key or mapped JWT subject), and on which plan. */
export interface ConsumerSpec {
  /** The plan the consumer is on (rate limits and analytics read it); '' when none. */
  plan: string;
  keys: ConsumerKey[];
  jwtSubjects: JwtSubjectRef[];
}

/** Which Consumers of its namespace an ApiKeyPolicy lets through: all, by name, or by label. */
export type ConsumerSelection = { all: true } | { names: string[] } | { matchLabels: Record<string, string> };

/** ApiKeyPolicy: requests must carry a key of an allowed Consumer (or a mapped verified JWT). */
export interface ApiKeyPolicySpec {
  /** Request header the key is read from ('' = not from a header). */
  header: string;
  /** Query parameter the key is read from ('' = not from the query). */
  query: string;
  consumers: ConsumerSelection;
  /** Strip the key (header or query parameter) before the request goes upstream. */
  hideCredentials: boolean;
  /** A verified JWT whose (issuer, subject) a Consumer lists is accepted instead of a key. */
  allowJwt: boolean;
  targetRefs: PolicyTargetRef[];
}

// --------------------------------------------------------------------------- ApiLifecyclePolicy

/**
 * The lifecycle of an API version (weft.filters.http.api_lifecycle): Deprecation (RFC 9745),
 * Sunset (RFC 8594) and Link headers on its responses, 410 Gone after the sunset when asked.
 * Dates are kept as applied (RFC 3339); the translator turns them into epoch seconds.
 */
export interface ApiLifecyclePolicySpec {
  /** When the version is (or will be) deprecated; `true`: deprecated, no date given. */
  deprecation: string | true;
  /** When the version stops answering. Not before `deprecation`. */
  sunset?: string;
  /** Absolute URL of the replacing version (Link rel="successor-version"). */
  successor?: string;
  /** Absolute URL of the deprecation's documentation (Link rel="deprecation"). */
  link?: string;
  /** Answer 410 Gone (API_SUNSET) from the sunset on. */
  rejectAfterSunset: boolean;
  targetRefs: PolicyTargetRef[];
}

// ------------------------------------------------------------------------------ ValidationPolicy

/**
 * Request validation (weft.filters.http.validation) for the rules that name it, or the Gateways,
 * listeners and Services its targetRefs name. Schemas are kept as written (JSON values) and
 * compiled at apply time to check them; the proxy compiles them again when it applies the config.
 */
export interface ValidationPolicySpec {
  /** JSON Schema (draft 2020-12) for JSON request bodies. */
  requestBodySchema?: unknown;
  /** OpenAPI 3.1 document: operations by method and path template. */
  openapi?: unknown;
  /** With openapi: what a request matching no operation gets. */
  unknownOperations: 'Reject' | 'Allow';
  /** Bound of a buffered body; absent: the proxy's default (1 MiB). */
  maxBodyBytes?: number;
  /** Response audit (log and count only). */
  auditResponses: boolean;
  responseBodySchema?: unknown;
  targetRefs: PolicyTargetRef[];
}

// -------------------------------------------------------------------------- TransformationPolicy

export interface HeaderMutationsSpec {
  add: Array<{ name: string; value: string }>;
  set: Array<{ name: string; value: string }>;
  remove: string[];
}
export interface QueryMutationsSpec {
  add: Array<{ name: string; value: string }>;
  set: Array<{ name: string; value: string }>;
  remove: string[];
  rename: Array<{ from: string; to: string }>;
}
/** One JSON body edit, addressed by a JSON pointer: exactly one action. */
export type BodyFieldSpec = { pointer: string } & ({ rename: string } | { remove: true } | { value: unknown } | { fromHeader: string } | { fromJwtClaim: string } | { fromConsumer: true });

export interface TransformationPolicySpec {
  request: { headers?: HeaderMutationsSpec; queryParams?: QueryMutationsSpec; body: BodyFieldSpec[]; jsonToXml?: { rootElement: string } };
  response: { headers?: HeaderMutationsSpec; body: BodyFieldSpec[]; xmlToJson: boolean };
  maxBodyBytes?: number;
  targetRefs: PolicyTargetRef[];
}

// ----------------------------------------------------------------------------- CompressionPolicy

/** Response compression algorithms, as Accept-Encoding names them: br, gzip. */
export type CompressionAlgorithm = 'brotli' | 'gzip';

/**
 * Response compression at a gateway (Envoy's compressor filter): on the Gateways / listeners of
 * `targetRefs`, and on the route rules that name the policy in an ExtensionRef (which overrides
 * the Gateway's policy for those rules). `disabled` makes an opt-out policy (no compression).
 */
export interface CompressionPolicySpec {
  targetRefs: PolicyTargetRef[];
  /** An opt-out: nothing compressed where it applies; no other field is set then. */
  disabled: boolean;
  /** Server preference order: on equal client q-values the first wins (Envoy choose_first). */
  algorithms: CompressionAlgorithm[];
  /** Responses with a smaller Content-Length are sent as they are (default 30, Envoy's). */
  minContentLength: number;
  /** Media types compressed; empty: Envoy's default list. */
  contentTypes: string[];
  /** No compression when the response has an ETag (Envoy disable_on_etag_header); else a strong ETag is removed. */
  disableOnETag: boolean;
  /** Remove Accept-Encoding before the request goes upstream, so backends send identity and the gateway compresses. */
  removeAcceptEncoding: boolean;
  /** gzip level 1..9 (absent: zlib's default, 6). */
  gzip: { level?: number };
  /** brotli quality 0..11 (absent: Envoy's default, 3). */
  brotli: { quality?: number };
}

// --------------------------------------------------------------------------- ClientTrafficPolicy

/**
 * Limits on what clients may send a Gateway's listeners (named after Envoy Gateway's kind). Every
 * field is optional; at least one is set. Durations in ms.
 */
export interface ClientTrafficPolicySpec {
  targetRefs: PolicyTargetRef[];
  /** Request body bytes (declared or streamed); over it: 413 BODY_TOO_LARGE. */
  maxRequestBodyBytes?: number;
  /** Request head bytes, a multiple of 1024 (Envoy max_request_headers_kb); over it: 431 HEADERS_TOO_LARGE. */
  maxRequestHeaderBytes?: number;
  /** Request target (path and query) length; over it: 414 URI_TOO_LONG. */
  maxUriLength?: number;
  /** Time for a request head to arrive once it started (Envoy request_headers_timeout); after it: 408 HEADERS_TIMEOUT. */
  requestHeaderTimeoutMs?: number;
  /** A connection with no request in flight is closed after this (Envoy common_http_protocol_options.idle_timeout). */
  idleTimeoutMs?: number;
  /** Open connections per listener; one more is closed at once (Envoy connection_limit). */
  maxConnections?: number;
}

// ------------------------------------------------------------------------- SecurityHeadersPolicy

export type FrameOptions = 'DENY' | 'SAMEORIGIN';

/** Response headers a gateway sets on every response of its listeners or of a route rule. */
export interface SecurityHeadersPolicySpec {
  /** Empty when the policy is only named by routes (ExtensionRef). */
  targetRefs: PolicyTargetRef[];
  /** strict-transport-security, sent on HTTPS listeners only (RFC 6797 section 7.2). */
  hsts?: { maxAgeSeconds: number; includeSubDomains: boolean; preload: boolean };
  /** x-content-type-options: nosniff. */
  contentTypeOptions?: 'nosniff';
  frameOptions?: FrameOptions;
  referrerPolicy?: string;
  contentSecurityPolicy?: string;
  permissionsPolicy?: string;
}

// ----------------------------------------------------------------------------------- CachePolicy

/** The shared store of a CachePolicy: Redis, reached by every gateway replica. */
export interface CacheRedisStore {
  /** host:port. */
  address: string;
  /** Prefix of every key; the translator's default is `weft:cache:<namespace>/<name>:`. */
  keyPrefix?: string;
  /** One command's timeout before the cache fails open (default 250 ms). */
  commandTimeoutMs: number;
  database: number;
}

/**
 * HTTP response caching at a gateway (RFC 9111 shared cache; Envoy's cache filter). Attached to
 * Gateways or listeners by `targetRefs`, or to route rules by ExtensionRef (a rule's policy
 * replaces the listener's; a `disabled` policy turns caching off where it applies).
 */
export interface CachePolicySpec {
  targetRefs: PolicyTargetRef[];
  /** Opt-out: no caching where this policy applies; no other field but targetRefs may be set. */
  disabled: boolean;
  /** The in-memory LRU's bound in bytes (no Redis); undefined with Redis. */
  maxBytes?: number;
  /** Largest response body stored; larger ones stream through uncached. */
  maxObjectBytes: number;
  redis?: CacheRedisStore;
  /** Response headers whose values tag the entry (lowercase), for purge by tag. */
  tagHeaders: string[];
  /** Response header reporting HIT / MISS / ... (lowercase). */
  statusHeader: string;
  /** Heuristic freshness for responses without an explicit lifetime; none (not stored) when absent. */
  defaultTtlMs?: number;
  /** How long an entry is kept past its freshness for revalidation (default 10m, 0: not kept). */
  staleRetentionMs: number;
  /** Request headers a response may Vary on (lowercase); a response varying on any other is not stored. */
  allowedVaryHeaders: string[];
  /** Ignore the request's Cache-Control / Pragma (clients cannot force a refetch). */
  ignoreRequestCacheControl: boolean;
}

// ------------------------------------------------------------------------------- RateLimitPolicy

/** One part of a rate-limit descriptor: what a request is counted under. */
export type RateLimitDescriptorEntry =
  | { consumer: true }
  | { plan: true }
  | { jwtClaim: string }
  | { clientIp: true }
  | { header: string }
  | { route: true }
  | { service: true }
  | { apiKey: true };

/** A sliding-window rate limit (requests per window) for each value of its descriptor. */
export interface RateLimitRuleSpec {
  name: string;
  descriptor: RateLimitDescriptorEntry[];
  requests: number;
  windowMs: number;
  scope: 'local' | 'global';
  /** Requests per window by the consumer's plan (a plan not listed gets `requests`). */
  plans: Record<string, number>;
  /** A request lacking some descriptor value: skipped by the rule (undefined), or counted with this value. */
  missingValue?: string;
}

export type QuotaPeriod = 'hour' | 'day' | 'week' | 'month';

/** A quota: requests per calendar window (UTC) per consumer or plan, counted in Redis. */
export interface RateLimitQuotaSpec {
  name: string;
  by: 'consumer' | 'plan';
  requests: number;
  period: QuotaPeriod;
  plans: Record<string, number>;
  missingValue?: string;
}

export interface RateLimitPolicySpec {
  targetRefs: PolicyTargetRef[];
  rules: RateLimitRuleSpec[];
  quotas: RateLimitQuotaSpec[];
  /** Required by global rules and quotas. */
  redis?: { address: string; keyPrefix: string; timeoutMs: number };
  failMode: 'open' | 'closed';
}

// ------------------------------------------------------------------------------------ MeshConfig

export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export interface MeshConfigSpec {
  trustDomain: string;
  /** minProtocolVersion: TLSv1_3 (default), or TLSv1_2 to admit peers that need it (AEAD ECDHE suites only). */
  mtls: { mode: MtlsMode; minProtocolVersion: 'TLSv1_2' | 'TLSv1_3' };
  tracing: {
    /** 0..100. */
    samplingPercent: number;
    /** OTLP/HTTP endpoint; the control plane's embedded receiver when absent. */
    endpoint?: string;
    propagation: 'w3c' | 'b3';
  };
  /** Certificate lifetime for workloads (ms). */
  certificateTtlMs: number;
  /** What a service with no ALLOW policy does: ALLOW (default) or DENY (default deny). */
  authorization: { defaultAction: 'ALLOW' | 'DENY' };
  /** How sidecars read request paths and which Upgrades they forward. */
  http: MeshHttpSettings;
}

/** What to do with `%2F` / `%5C` in a request path (Envoy's path_with_escaped_slashes_action). */
export type EscapedSlashesAction = 'KeepUnchanged' | 'Reject' | 'UnescapeAndRedirect' | 'UnescapeAndForward';

export interface MeshHttpSettings {
  /** RFC 3986 normalization (dot segments, percent-encoded unreserved characters) before routing and authorization. */
  normalizePath: boolean;
  /** Collapse `//` into `/` before routing and authorization. */
  mergeSlashes: boolean;
  escapedSlashes: EscapedSlashesAction;
  /** HTTP/1.1 Upgrade types sidecars forward (lowercase); others get 403 UPGRADE_NOT_ALLOWED. */
  upgrades: string[];
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
