/**
 * The JSON shapes of `weft explain` (the control plane's GET /v1/explain, the sidecar's /explain),
 * import-free so the dashboard's browser program can use them too.
 */
export interface ExplainRequest {
  readonly method: string;
  /** Lowercase host[:port] the request names. */
  readonly authority: string;
  /** Path as sent (normalized here, as the connection manager would). */
  readonly path: string;
  /** Query string with its '?', or ''. */
  readonly search: string;
  /** Request headers, names lowercase. */
  readonly headers: Readonly<Record<string, string>>;
  /** The peer's SPIFFE ID as the listener would see it (inbound with mTLS), if any. */
  readonly principal?: string;
  readonly remoteAddress?: string;
}

/** One endpoint of a cluster, with its health as the proxy knows it. */
export interface EndpointView {
  readonly address: string;
  readonly zone: string;
  readonly priority: number;
  readonly weight: number;
  readonly healthy: boolean;
  /** Why not healthy: eds_unhealthy, failed_active_hc, outlier_ejected; empty when healthy. */
  readonly health: readonly string[];
  /** Reached with mTLS (a mesh endpoint), else plaintext. */
  readonly mtls: boolean;
}

export interface ClusterView {
  readonly name: string;
  /** Its share of the route's requests, in percent (100 without a split). */
  readonly percent: number;
  readonly known: boolean;
  readonly lbPolicy?: string;
  readonly connectTimeoutMs?: number;
  readonly endpoints?: readonly EndpointView[];
  /** The identity the proxy expects of the peer (mTLS: of every endpoint, or of mesh endpoints only), or plaintext. */
  readonly tls?: { readonly sni: string; readonly expectedIdentities: readonly string[]; readonly meshEndpointsOnly: boolean } | 'plaintext';
  readonly circuitBreakers?: { readonly maxConnections: number; readonly maxPending: number; readonly maxRequests: number; readonly maxRetries: number };
  readonly outlierDetection?: boolean;
  readonly activeHealthCheck?: boolean;
  /** HTTP/2 keepalive PINGs on its connections (Http2ProtocolOptions.connection_keepalive), when set. */
  readonly h2Keepalive?: { readonly intervalMs: number; readonly timeoutMs: number; readonly jitterPercent?: number };
}

export interface FilterStep {
  readonly name: string;
  /** allow, deny, requires, limits, applies; or skipped (disabled for this route / not in the chain). */
  readonly effect: string;
  readonly detail: string;
  /** The answer the proxy gives instead of passing the request on (`403 RBAC_DENIED`), when this filter refuses it. */
  readonly refuses?: string;
}

export type ActionView =
  | {
      readonly kind: 'forward';
      readonly clusters: readonly ClusterView[];
      readonly upstreamPath: string;
      /** The request headers sent upstream (the route's additions and removals, x-forwarded-*, x-request-id; tracing headers left out). */
      readonly upstreamHeaders: Readonly<Record<string, string>>;
      readonly hostRewrite?: string;
      readonly timeoutMs: number;
      readonly retry?: { readonly attempts: number; readonly on: readonly string[]; readonly statusCodes: readonly number[]; readonly perTryTimeoutMs: number; readonly backoffMs: readonly [number, number] };
      readonly hashPolicy: readonly string[];
      readonly mirrors: readonly string[];
    }
  | { readonly kind: 'redirect'; readonly status: number; readonly location: string }
  | { readonly kind: 'direct'; readonly status: number; readonly body: string };

export interface HopExplanation {
  readonly listener: string;
  readonly request: { readonly method: string; readonly authority: string; readonly path: string; readonly search: string; readonly principal?: string };
  /** What happened before routing when the request does not get that far (path refused, no routes yet). */
  readonly stoppedBefore?: string;
  readonly routeConfig?: string;
  readonly virtualHost?: { readonly name: string; readonly domains: readonly string[]; readonly why: string };
  readonly otherVirtualHosts: ReadonlyArray<{ readonly name: string; readonly domains: readonly string[]; readonly why: string }>;
  readonly routes: ReadonlyArray<{ readonly name: string; readonly match: string; readonly matched: boolean; readonly why?: string; readonly notTried?: boolean }>;
  /** The matched route's name ('' when none): what the access log's `route` says. */
  readonly route: string;
  readonly filters: readonly FilterStep[];
  readonly action?: ActionView;
  /** The request's fate on this listener, in a line. */
  readonly outcome: string;
  /** A filter that refuses this request outright (its name), when one does. */
  readonly refusedBy?: string;
}

export interface ProxyHop extends HopExplanation {
  /** The proxy this hop was computed for: a connected node's id, or `(new <service> sidecar)`. */
  readonly proxy: string;
  readonly service: string;
  readonly connected: boolean;
  /** Resources of its snapshot the proxy would refuse (NACK), if any: it keeps older ones. */
  readonly nacks: readonly string[];
  /** The configuration revision the hop was computed on. */
  readonly revision: number;
}

export interface Explanation {
  readonly request: { method: string; url: string; from: string; namespace: string };
  readonly hops: readonly ProxyHop[];
}

