/**
 * Layer-4 telemetry per upstream cluster, recorded by tcp_proxy (sidecar/tcp/tcp-proxy.ts):
 * connections opened, active and closed, bytes each way, and how long connections lasted. Kept by
 * cluster name, so a cluster rebuilt by a config change keeps its counters and the gauge of the
 * connections still open on it. Rendered as Prometheus metrics by the admin server:
 * `weft_tcp_connections_opened_total`, `_active`, `_closed_total`, `weft_tcp_sent_bytes_total`
 * (to the upstream), `weft_tcp_received_bytes_total` (from the upstream) and
 * `weft_tcp_connection_duration_seconds`.
 */

/** Histogram bounds, seconds: connections live from milliseconds (a ping) to hours (a pool). */
export const CONNECTION_DURATION_BOUNDS = [0.001, 0.01, 0.1, 0.5, 1, 5, 30, 60, 300, 1800, 3600] as const;

export class ClusterTcpStats {
  opened = 0;
  active = 0;
  closed = 0;
  /** Connect attempts that failed (refused, reset, timed out, TLS handshake failed). */
  connectFailures = 0;
  /** Connections refused by max_connections (circuit breaker). */
  overflow = 0;
  sentBytes = 0;
  receivedBytes = 0;
  /** Non-cumulative bucket counts of connection durations; the last is +Inf. */
  readonly counts = new Float64Array(CONNECTION_DURATION_BOUNDS.length + 1);
  sum = 0;
  count = 0;
  readonly labels: Readonly<Record<string, string>>;
  constructor(readonly cluster: string) {
    this.labels = Object.freeze({ cluster });
  }

  /** A connection to this cluster closed after `ms` with these byte counts. */
  close(ms: number, sent: number, received: number): void {
    this.active--;
    this.closed++;
    this.sentBytes += sent;
    this.receivedBytes += received;
    const s = ms / 1000;
    let i = 0;
    while (i < CONNECTION_DURATION_BOUNDS.length && s > CONNECTION_DURATION_BOUNDS[i]!) i++;
    this.counts[i]!++;
    this.sum += s;
    this.count++;
  }
}

export class TcpStats {
  readonly #byCluster = new Map<string, ClusterTcpStats>();

  of(cluster: string): ClusterTcpStats {
    let s = this.#byCluster.get(cluster);
    if (!s) this.#byCluster.set(cluster, (s = new ClusterTcpStats(cluster)));
    return s;
  }

  all(): Iterable<ClusterTcpStats> {
    return this.#byCluster.values();
  }
}

/** One proxied connection, as the access log writes it (one line per connection). */
export interface TcpConnectionRecord {
  listener: string;
  direction: string;
  /** The downstream's address:port. */
  downstream: string;
  /** The downstream's verified SPIFFE ID (mTLS inbound). */
  principal: string | undefined;
  /** The SNI a TLS passthrough connection was routed by. */
  serverName: string | undefined;
  cluster: string;
  upstreamHost: string;
  /** Bytes from the downstream (sent upstream) and to it (received from the upstream). */
  bytesReceived: number;
  bytesSent: number;
  durationMs: number;
  connectAttempts: number;
  /**
   * Why the proxy ended or refused it, Envoy's response flags where they exist: UF (upstream
   * connect failure), UO (max_connections), UH (no healthy host), NC (no cluster), NR (nothing to
   * route it by: no chain for the SNI, not a TLS ClientHello on a passthrough port, no config), CL
   * (the listener's connection_limit), HT (no complete ClientHello in time), RBAC (denied), IT
   * (idle timeout), DT (max connection duration), DC (downstream reset), UC (upstream reset); ''
   * for a connection either side closed normally.
   */
  flags: string;
  /** The RBAC policy (or reason) that denied it. */
  rbac: string | undefined;
}
