/**
 * The validated specs of the mesh policy kinds (TrafficPolicy, AuthorizationPolicy, FaultPolicy,
 * MeshConfig): part of the configuration model, re-exported by types.ts (import them from there).
 * Their resource types and model maps are in types.ts with every other kind's.
 */
import type { RetryPolicy } from './types.js';

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
  /** HTTP/2 keepalive PINGs on connections to the service's grpc and http2 ports. */
  keepalive?: { intervalMs: number; timeoutMs: number };
}

export interface OutlierDetection {
  consecutive5xx: number;
  consecutiveGatewayErrors: number;
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionPercent: number;
}

export interface HealthCheck {
  /** HTTP services: the path requested (required there); absent for a tcp service, whose check is a TCP connect. */
  path?: string;
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
