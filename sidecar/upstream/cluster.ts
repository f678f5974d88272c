/**
 * An upstream cluster at run time: its hosts (from EDS or a static assignment), balancing policy
 * and current picker, circuit-breaker counters, outlier detection, active health checks and
 * connection pools. Built when a Cluster resource is accepted; endpoints are replaced in place
 * when its ClusterLoadAssignment changes, keeping each surviving host's state.
 */
import type { Cluster } from '../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import type { ClusterLoadAssignment } from '../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { HealthStatus } from '../../proto/gen/envoy/config/core/v3/health_check_pb.js';
import { HealthChecker } from './health-check.js';
import { Host } from './host.js';
import { buildPicker, policyFor, type LbPolicy, type Picker } from './lb/index.js';
import { OutlierDetector, Outcome } from './outlier.js';
import { H2Connection, type PoolOptions } from './h2-session.js';
import { H1Pool } from './h1-pool.js';
import { dial, hostTls, type HostTls } from './dial.js';
import type { MeshTls } from '../tls/mesh-tls.js';
import { Problems, durationMs } from '../xds/types/decoded.js';
import { TLS_MODE_KEY, TLS_MODE_MESH, upstreamTlsOf } from '../xds/types/tls.js';
import { http2OptionsOf, keepaliveOf } from '../xds/types/cluster.js';

type Duration = { seconds: bigint; nanos: number } | undefined;
const ms = (d: Duration, dflt: number): number => durationMs(d, dflt);

export interface Limits {
  maxConnections: number;
  maxPending: number;
  maxRequests: number;
  maxRetries: number;
  /** Retry budget: retries may be this percent of active requests (undefined = no budget). */
  budgetPercent: number | undefined;
  minRetryConcurrency: number;
}

export interface ClusterStats {
  rqTotal: number;
  rqActive: number;
  rqOverflow: number;
  rqRetry: number;
  /** Attempts sent to hosts (first tries and retries). */
  rqAttempts: number;
  rqRetryOverflow: number;
  rqTimeout: number;
  cxConnectFail: number;
  /** Responses by class: index 1..5 for 1xx..5xx. */
  rqByClass: number[];
}

/** Whether the cluster speaks h2 (gRPC, http2) to its hosts, from HttpProtocolOptions. */
export function isHttp2(c: Cluster): boolean {
  return http2OptionsOf(c) !== undefined;
}

export class UpstreamCluster {
  readonly name: string;
  readonly http2: boolean;
  readonly limits: Limits;
  readonly stats: ClusterStats = { rqTotal: 0, rqActive: 0, rqOverflow: 0, rqRetry: 0, rqAttempts: 0, rqRetryOverflow: 0, rqTimeout: 0, cxConnectFail: 0, rqByClass: [0, 0, 0, 0, 0, 0] };
  retriesActive = 0;
  picker: Picker;
  hosts: readonly Host[] = [];
  readonly #policy: LbPolicy;
  readonly #panic: number;
  readonly #pool: PoolOptions;
  readonly #h1 = new Map<Host, H1Pool>();
  readonly #h2 = new Map<Host, H2Connection>();
  readonly #outlier: OutlierDetector | undefined;
  readonly #hc: HealthChecker | undefined;
  /** The service this cluster reaches (for health-check Host headers and SAN checks later). */
  readonly authority: string;
  /** mTLS to mesh hosts (undefined: plaintext everywhere). */
  readonly tls: HostTls | undefined;

  constructor(config: Cluster, http2Override?: boolean, mesh?: MeshTls) {
    this.tls = hostTls(mesh, upstreamTlsOf(config, new Problems(config.name)));
    this.name = config.name;
    const h2 = http2OptionsOf(config);
    this.http2 = http2Override ?? h2 !== undefined;
    this.#policy = policyFor(config);
    this.#panic = config.commonLbConfig?.healthyPanicThreshold?.value ?? 50;
    const t = config.circuitBreakers?.thresholds[0];
    this.limits = {
      maxConnections: t?.maxConnections ?? 1024,
      maxPending: t?.maxPendingRequests ?? 1024,
      maxRequests: t?.maxRequests ?? 1024,
      maxRetries: t?.maxRetries ?? 3,
      budgetPercent: t?.retryBudget ? (t.retryBudget.budgetPercent?.value ?? 20) : undefined,
      minRetryConcurrency: t?.retryBudget?.minRetryConcurrency ?? 3,
    };
    this.#pool = {
      maxConnections: this.limits.maxConnections,
      connectTimeoutMs: ms(config.connectTimeout, 5000),
      idleTimeoutMs: ms(config.commonHttpProtocolOptions?.idleTimeout, 60_000),
      keepalive: keepaliveOf(h2),
    };
    const meta = config.metadata?.filterMetadata.weft as { service?: string; namespace?: string } | undefined;
    this.authority = meta?.service ? `${meta.service}.${meta.namespace ?? 'default'}` : config.name;
    const rebuild = () => this.#rebuild();
    this.#outlier = config.outlierDetection ? new OutlierDetector(config.outlierDetection, () => this.hosts, rebuild) : undefined;
    const hc = config.healthChecks[0];
    this.#hc = hc ? new HealthChecker(hc, this.authority, rebuild, (h) => dial(h, this.tls, hc.healthChecker.case === 'tcpHealthCheck' ? undefined : 'http/1.1')) : undefined;
    this.picker = buildPicker([], this.#policy, this.#panic);
    if (config.loadAssignment) this.setEndpoints(config.loadAssignment);
  }

  /** connect_timeout: how long a connection may take to open (TLS handshake included). */
  get connectTimeoutMs(): number {
    return this.#pool.connectTimeoutMs;
  }

  get ejectionsTotal(): number {
    return this.#outlier?.ejectionsTotal ?? 0;
  }

  /** Replaces the endpoint set; hosts that stay keep their health and counters. */
  setEndpoints(cla: ClusterLoadAssignment): void {
    const old = new Map(this.hosts.map((h) => [h.key, h]));
    const next: Host[] = [];
    for (const l of cla.endpoints) {
      for (const e of l.lbEndpoints) {
        if (e.hostIdentifier.case !== 'endpoint') continue;
        const sa = e.hostIdentifier.value.address?.address.case === 'socketAddress' ? e.hostIdentifier.value.address.address.value : undefined;
        if (!sa || sa.portSpecifier.case !== 'portValue') continue;
        const probe = new Host(sa.address, sa.portSpecifier.value, e.loadBalancingWeight ?? 1, l.locality?.zone ?? '', l.priority);
        const h = old.get(probe.key) ?? probe;
        h.weight = e.loadBalancingWeight ?? 1;
        h.zone = l.locality?.zone ?? '';
        h.priority = l.priority;
        h.mesh = this.tls !== undefined && (this.tls.config.allHosts || (e.metadata?.filterMetadata['envoy.transport_socket_match'] as Record<string, unknown> | undefined)?.[TLS_MODE_KEY] === TLS_MODE_MESH);
        h.edsUnhealthy = e.healthStatus === HealthStatus.UNHEALTHY || e.healthStatus === HealthStatus.DRAINING || e.healthStatus === HealthStatus.TIMEOUT;
        next.push(h);
        old.delete(h.key);
      }
    }
    for (const gone of old.values()) this.#closeHost(gone);
    this.hosts = next;
    this.#hc?.setHosts(next);
    this.#rebuild();
  }

  #rebuild(): void {
    this.picker = buildPicker(this.hosts, this.#policy, this.#panic);
  }

  /** The h1 pool for a host (created on first use). */
  h1(h: Host): H1Pool {
    let p = this.#h1.get(h);
    if (!p) {
      p = new H1Pool(h, this.#pool, this.tls, () => {
        h.cxConnectFail++;
        this.stats.cxConnectFail++;
      });
      this.#h1.set(h, p);
    }
    return p;
  }

  h2(h: Host): H2Connection {
    let c = this.#h2.get(h);
    if (!c) this.#h2.set(h, (c = new H2Connection(h, this.#pool, this.tls)));
    return c;
  }

  /** Requests queued beyond a host's connections: what max_pending_requests limits. */
  pendingOn(h: Host): number {
    return this.http2 ? 0 : Math.max(0, h.active - this.limits.maxConnections);
  }

  /** May one more retry start now? (max_retries and the retry budget.) */
  retryAllowed(): boolean {
    const l = this.limits;
    if (l.budgetPercent !== undefined) {
      return this.retriesActive < Math.max(l.minRetryConcurrency, (this.stats.rqActive * l.budgetPercent) / 100);
    }
    return this.retriesActive < l.maxRetries;
  }

  report(h: Host, o: Outcome): void {
    this.#outlier?.report(h, o);
  }

  #closeHost(h: Host): void {
    const p = this.#h1.get(h);
    if (p) {
      this.#h1.delete(h);
      p.close();
    }
    const c = this.#h2.get(h);
    if (c) {
      this.#h2.delete(h);
      c.close();
    }
  }

  /** Stops timers and closes pools gracefully (in-flight requests finish). */
  close(): void {
    this.#outlier?.close();
    this.#hc?.close();
    for (const h of [...this.#h1.keys(), ...this.#h2.keys()]) this.#closeHost(h);
  }
}

export { Outcome };
