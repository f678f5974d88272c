/**
 * The validated specs of the API-gateway policy kinds (JwtPolicy, Consumer, ApiKeyPolicy,
 * RateLimitPolicy, ApiLifecyclePolicy, ValidationPolicy, TransformationPolicy, AggregationPolicy):
 * part of the configuration model, re-exported by types.ts (import them from there). Their
 * resource types and model maps are in types.ts with every other kind's.
 */
import type { PolicyTargetRef } from './types.js';

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
