/**
 * Live service instances. The registry merges endpoints that sidecars register through their xDS
 * node metadata with the static endpoints named in Service config; translation reads it through
 * this narrow view.
 */

export interface RegisteredEndpoint {
  /** IP literal. */
  readonly address: string;
  readonly port: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly zone?: string;
  readonly weight: number;
  /** False while the instance is draining or failed its health reports. */
  readonly healthy: boolean;
  /**
   * xDS node id of the proxy that registered it (its WEFT_INSTANCE when several nodes share the
   * instance, as the workers of one sidecar do); absent for static endpoints.
   */
  readonly nodeId?: string;
  /** Registered by a sidecar authenticated with a workload certificate: peers reach it with mTLS. */
  readonly mtls?: boolean;
}

export interface RegistryView {
  /** Dynamically registered endpoints of a service (static ones come from the Service config). */
  endpoints(namespace: string, service: string): readonly RegisteredEndpoint[];
  /** Increases whenever any endpoint set changes. */
  readonly revision: number;
}
