/**
 * The validated specs of the gateway policy kinds (CorsPolicy, CompressionPolicy,
 * ClientTrafficPolicy, SecurityHeadersPolicy, CachePolicy): part of the configuration model,
 * re-exported by types.ts (import them from there). Their resource types and model maps are in
 * types.ts with every other kind's.
 */
import type { PolicyTargetRef } from './types.js';

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
