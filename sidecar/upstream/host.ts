/**
 * One upstream endpoint of a cluster. Hosts outlive EDS updates (matched by address:port) so
 * their health, outlier and in-flight state carry over; pickers hold them by reference and read
 * `active` (least request) and nothing else on the request path.
 */
export class Host {
  readonly key: string;
  /** In-flight requests (least request reads it). */
  active = 0;
  /** Active health check says unhealthy. */
  hcFailed = false;
  /** A mesh endpoint (a sidecar): dialled with mTLS when the cluster has a TLS transport socket. */
  mesh = false;
  /** EDS says unhealthy or draining. */
  edsUnhealthy = false;
  /** Outlier detection: ejected until this time (0 = not ejected), and how many times so far. */
  ejectedUntil = 0;
  ejections = 0;
  consecutive5xx = 0;
  consecutiveGateway = 0;
  // counters shown on /clusters
  rqTotal = 0;
  rqError = 0;
  cxConnectFail = 0;

  constructor(
    readonly address: string,
    readonly port: number,
    public weight: number,
    public zone: string,
    public priority: number,
  ) {
    this.key = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  }

  get healthy(): boolean {
    return !this.hcFailed && !this.edsUnhealthy && this.ejectedUntil === 0;
  }
}
