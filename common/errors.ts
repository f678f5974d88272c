/**
 * Weft's error catalogue: one class, a closed set of stable codes. Every error that crosses a
 * module boundary is a WeftError; `code` is what programs match on, `message` is for people.
 * Codes appear in CLI output, admin API bodies and the sidecar's `x-weft-error` header, so they
 * never change meaning once released (docs/errors.md lists them; a unit test keeps both in step).
 */
export const ERROR_CODES = {
  // configuration (control plane)
  CONFIG_INVALID: 'configuration failed validation; nothing was stored',
  CONFIG_PARSE: 'a configuration file is not valid YAML or JSON',
  CONFIG_NOT_FOUND: 'the named resource does not exist',
  CONFIG_CONFLICT: 'the configuration changed since it was read (an apply with ifRevision, or another replica changed the same resource); read it again and retry',
  // store
  STORE_IO: 'the configuration store could not be read or written',
  STORE_CORRUPT: 'the configuration store holds data that cannot be decoded',
  STORE_UNAVAILABLE: 'the configuration store (etcd) cannot be reached or has lost quorum; nothing was applied, proxies keep their config',
  STORE_LIMIT: "the change is larger than the configuration store takes in one transaction (etcd's --max-txn-ops / --max-request-bytes); nothing was applied",
  CA_KEK_MISMATCH: "the CA's keys in etcd do not decrypt with this replica's key-encryption key (--ca-kek-file): give every replica the same KEK file",
  // xDS
  XDS_PROTOCOL: 'an xDS peer broke the protocol',
  XDS_INCONSISTENT_SNAPSHOT: 'a snapshot references resources it does not contain',
  XDS_RESOURCE_INVALID: 'an xDS resource failed validation',
  // admin API / CLI
  ADMIN_UNAUTHORIZED: 'missing or wrong bearer token',
  ADMIN_BAD_REQUEST: 'the admin API request is malformed',
  ADMIN_NOT_FOUND: 'the admin API has no such endpoint (method and path) (404)',
  ADMIN_UNREACHABLE: 'the control plane admin API could not be reached',
  ADMIN_TIMEOUT: 'the control plane admin API did not answer within the CLI timeout',
  CLI_USAGE: 'the command line is not valid',
  // data plane
  UPSTREAM_CONNECT_FAILURE: 'could not connect to any upstream endpoint',
  UPSTREAM_RESET: 'the upstream closed or reset the connection',
  UPSTREAM_TIMEOUT: 'the upstream did not answer in time',
  NO_ROUTE: 'no route matches the request',
  NO_HEALTHY_UPSTREAM: 'the cluster has no healthy endpoint',
  CIRCUIT_OPEN: 'a circuit breaker limit was reached',
  RBAC_DENIED: 'an AuthorizationPolicy denied the request',
  BAD_REQUEST: 'the request is malformed',
  NOT_READY: 'the sidecar has not received its configuration yet',
  UPSTREAM_PROTOCOL: 'the upstream answered with something that is not valid HTTP or gRPC',
  REQUEST_TOO_LARGE: 'the request exceeded a size limit',
  UPGRADE_NOT_ALLOWED: 'the request asks for an Upgrade that is not enabled for its route',
  FAULT_ABORT: 'a FaultPolicy aborted the request on purpose (fault injection)',
  BODY_TOO_LARGE: 'the request body exceeded the listener\'s maxRequestBodyBytes (413)',
  HEADERS_TOO_LARGE: 'the request head exceeded the listener\'s maxRequestHeaderBytes (431)',
  URI_TOO_LONG: 'the request target exceeded the listener\'s maxUriLength (414)',
  HEADERS_TIMEOUT: 'the request head did not arrive within the listener\'s requestHeaderTimeout (408)',
  CACHE_ONLY_IF_CACHED: 'the request asked for a cached response only (only-if-cached) and none could be used',
  JWT_MISSING: 'the route requires a JWT (JwtPolicy) and the request carries none (401)',
  JWT_INVALID: 'the request\'s JWT failed verification: signature, issuer, audience, expiry or unknown key (401)',
  JWT_FORBIDDEN: 'the request\'s JWT is valid but lacks a scope or claim the route requires (403)',
  API_KEY_MISSING: 'an ApiKeyPolicy applies and the request carries no API key (401)',
  API_KEY_INVALID: 'the API key is not one of a Consumer\'s, or it expired or was revoked (401)',
  CONSUMER_FORBIDDEN: 'the API key\'s Consumer is not one the ApiKeyPolicy allows (403)',
  API_SUNSET: 'the API version is past its sunset date and its ApiLifecyclePolicy answers 410 Gone',
  VALIDATION_FAILED: 'the request does not satisfy its ValidationPolicy (400, every violation listed; 415 for a body that is not JSON)',
  TRANSFORM_FAILED: 'a TransformationPolicy could not transform the message: a malformed request body (400) or upstream response (502)',
  AGGREGATION_FAILED: 'a required call of an AggregationPolicy failed (502) or timed out (504); the body names the call',
  RATE_LIMITED: 'a RateLimitPolicy rule\'s limit for the request\'s descriptor is used up (429, Retry-After)',
  QUOTA_EXCEEDED: 'a RateLimitPolicy quota for the consumer or plan is used up for its calendar window (429, Retry-After)',
  RATE_LIMIT_UNAVAILABLE: 'the rate-limit store (Redis) could not answer in time and the policy fails closed (503)',
  // internal
  INTERNAL: 'an internal invariant failed',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The one error type Weft modules throw to each other. `details` carries structured context. */
export class WeftError extends Error {
  readonly code: ErrorCode;
  readonly details: readonly FieldError[];
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: readonly FieldError[] }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WeftError';
    this.code = code;
    this.details = options?.details ?? [];
  }

  toJSON(): { code: ErrorCode; message: string; details?: readonly FieldError[] } {
    return this.details.length ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message };
  }
}

/** One problem in an input, located precisely: which file, which document, which field. */
export interface FieldError {
  /** File the input came from ('-' for stdin, or an API/xDS resource name). */
  file?: string;
  /** Zero-based index of the YAML document in a multi-document file. */
  document?: number;
  /** Resource the problem belongs to, e.g. `HTTPRoute/default/orders`. */
  resource?: string;
  /** Dotted field path, e.g. `spec.rules[0].backendRefs[1].weight`. */
  path: string;
  /** Why it is wrong, in words an operator can act on. */
  message: string;
}

/** Formats a field error on one line: `file#doc Kind/ns/name spec.x: why`. */
export function formatFieldError(e: FieldError): string {
  const where = [e.file === undefined ? '' : e.file + (e.document === undefined ? '' : `#${e.document}`), e.resource ?? '']
    .filter(Boolean)
    .join(' ');
  return `${where ? `${where} ` : ''}${e.path || '<root>'}: ${e.message}`;
}

export function isWeftError(e: unknown): e is WeftError {
  return e instanceof WeftError;
}
