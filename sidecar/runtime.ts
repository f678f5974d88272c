/**
 * The sidecar's running config, built from each accepted xDS update: one compiled route table
 * per listener and one UpstreamCluster per Cluster. Unchanged resources are kept as they are
 * (their hosts' health, counters and pools survive); changed ones are rebuilt and the old ones
 * closed gracefully. Requests read `routeTable()` and `cluster()` and nothing else.
 */
import { equals } from '@bufbuild/protobuf';
import { SIDECAR_LISTENER } from '../common/xds-types.js';
import { ClusterSchema, type Cluster } from '../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema, type ClusterLoadAssignment } from '../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { RouteConfigurationSchema, type RouteConfiguration } from '../proto/gen/envoy/config/route/v3/route_pb.js';
import { router } from './http/router.js';
import { RouteTable, type CompiledRoute } from './routing/route-table.js';
import { compose, type FilterContext, type Handler } from './http/filter.js';
import { CacheStores } from './http/cache/stores.js';
import { RateLimitStores } from './http/ratelimit/stores.js';
import { routePerFilter } from './http/filters/index.js';
import type { ListenerChain } from './http/hcm.js';
import type { ListenerContext } from './listeners/http-listener.js';
import { UpstreamCluster } from './upstream/cluster.js';
import type { XdsConfig } from './xds/ads-client.js';
import type { MeshTls } from './tls/mesh-tls.js';
import type { InboundTransport } from './xds/types/tls.js';
import type { Tracing } from './telemetry/tracing.js';
import type { DownstreamLimits, EdgeChain, SidecarListener } from './xds/types/listener.js';
import type { ServingCertificate, SidecarSecret } from './xds/types/tls.js';
import { EdgeState, type EdgeSource } from './listeners/edge.js';

export class Runtime {
  readonly #clusters = new Map<string, UpstreamCluster>();
  readonly #cla = new Map<string, ClusterLoadAssignment>();
  readonly #tables = new Map<string, { rc: RouteConfiguration; table: RouteTable }>();
  readonly #listenerRoute = new Map<string, string>();
  #inbound: InboundTransport | undefined;
  /** Each listener's current chain, in a slot its ListenerContext reads (no lookup per request). */
  readonly #slots = new Map<string, { chain: ListenerChain | undefined; limits: DownstreamLimits | undefined }>();
  /** Gateway listeners: each one's chains and certificates, as the last applied config built them. */
  readonly #edges = new Map<string, { state: EdgeState | undefined }>();
  /** Set once listeners, routes and clusters have all arrived. */
  ready = false;
  /** The HTTP cache's stores: they outlive the chains composed from each update. */
  readonly caches = new CacheStores();
  /** The rate-limit filter's Redis connections, local buckets and counters, kept across updates likewise. */
  readonly rateLimits = new RateLimitStores();

  constructor(
    private readonly appProtocol: 'http' | 'http2' | 'grpc',
    private readonly mesh?: MeshTls,
    private readonly tracing?: Tracing,
    /** Told about every RBAC denial (the sidecar logs it). */
    private readonly onDeny?: FilterContext['onDeny'],
    /**
     * The listeners that must have their routes before the proxy is ready: a sidecar's outbound
     * and inbound (the default); a gateway's are whatever its Gateway has (`undefined`: every
     * Listener received, once at least one config of each kind arrived).
     */
    private readonly required: readonly string[] | undefined = [SIDECAR_LISTENER.outbound, SIDECAR_LISTENER.inbound],
  ) {}

  #slot(listener: string): { chain: ListenerChain | undefined; limits: DownstreamLimits | undefined } {
    let s = this.#slots.get(listener);
    if (!s) this.#slots.set(listener, (s = { chain: undefined, limits: undefined }));
    return s;
  }

  /** How the inbound listener accepts connections (undefined until its Listener arrived). */
  inboundTransport(): InboundTransport | undefined {
    return this.#inbound;
  }

  /** What one listener serves requests with: its chain as the last applied config built it. */
  contextFor(listener: string): ListenerContext {
    const slot = this.#slot(listener);
    // Server spans are the sidecar's inbound listener's; a gateway's listeners do not trace yet.
    const kind = listener === SIDECAR_LISTENER.inbound || listener === SIDECAR_LISTENER.outbound ? listener : undefined;
    return { chain: () => slot.chain, limits: () => slot.limits, ...(this.tracing && kind ? { tracing: { t: this.tracing, listener: kind } } : {}) };
  }

  /**
   * A gateway listener's chains by SNI, with their certificates; `current()` is what the last
   * applied config built (undefined before, or once the Listener is gone). Connections pick a
   * chain at their handshake and keep it; requests read that chain's slot, so a new config
   * reaches open connections at their next request.
   */
  edgeFor(listener: string): EdgeSource {
    let e = this.#edges.get(listener);
    if (!e) this.#edges.set(listener, (e = { state: undefined }));
    const box = e;
    return { current: () => box.state };
  }

  #edge(name: string, chains: readonly EdgeChain[], secrets: ReadonlyMap<string, SidecarSecret>, prev: EdgeState | undefined): EdgeState {
    const certs = (names: readonly string[]): ServingCertificate[] | undefined => {
      const out: ServingCertificate[] = [];
      for (const n of names) {
        const s = secrets.get(n);
        if (s?.kind !== 'certificate') return undefined;
        out.push(s);
      }
      return out;
    };
    return new EdgeState(
      chains.map((c) => ({ serverNames: c.serverNames, terminate: c.terminate, certificates: c.terminate ? certs(c.terminate.certificates) : undefined, ctx: this.contextFor(`${name}|${c.routeName}`) })),
      prev,
    );
  }

  /**
   * A listener's chains: its filters in order ending in the router, and one chain per route that
   * overrides a filter's config (typed_per_filter_config), built here, once per applied update.
   */
  #compose(name: string, l: Pick<SidecarListener, 'filters' | 'paths' | 'upgrades'>, table: RouteTable): ListenerChain {
    const tracing = this.tracing && (name === SIDECAR_LISTENER.inbound || name === SIDECAR_LISTENER.outbound) ? { t: this.tracing, listener: name } : undefined;
    const ctx: FilterContext = { listener: name, caches: this.caches, rateLimits: this.rateLimits, ...(this.onDeny ? { onDeny: this.onDeny } : {}), ...(tracing ? { tracing } : {}) };
    const terminal = router({ cluster: (c) => this.#clusters.get(c), upgrades: l.upgrades, ...(tracing ? { tracing } : {}) });
    const head = compose(l.filters, terminal, ctx);
    const byRoute = new Map<CompiledRoute, Handler>();
    for (const r of table.routes()) {
      const pf = r.perFilter;
      if (!pf || !l.filters.some((s) => pf.has(s.name))) continue;
      byRoute.set(r, compose(l.filters, terminal, ctx, (s) => pf.get(s.name)));
    }
    return { table, paths: l.paths, head, byRoute };
  }

  clusters(): ReadonlyMap<string, UpstreamCluster> {
    return this.#clusters;
  }

  apply(cfg: XdsConfig): void {
    // Trust first: a bundle that adds a new root must be in place before anything uses it.
    const inbound = cfg.listeners.get(SIDECAR_LISTENER.inbound);
    let bundle = cfg.secrets.get(inbound?.transport.tls?.caSecret ?? 'ROOTCA');
    if (bundle?.kind !== 'bundle') bundle = [...cfg.secrets.values()].find((x) => x.kind === 'bundle');
    if (bundle?.kind === 'bundle' && this.mesh) this.mesh.setBundle(bundle.pem);
    // Clusters first, so routes never point at a cluster that is not there yet.
    for (const [name, c] of cfg.clusters) {
      const cur = this.#clusters.get(name);
      if (cur && equals(ClusterSchema, cur.config, c)) continue;
      cur?.close();
      this.#clusters.set(name, this.#newCluster(c));
      this.#cla.delete(name);
    }
    for (const [name, cur] of this.#clusters) {
      if (!cfg.clusters.has(name)) {
        cur.close();
        this.#clusters.delete(name);
        this.#cla.delete(name);
      }
    }
    for (const [name, uc] of this.#clusters) {
      if (uc.config.clusterDiscoveryType.case !== 'type' || uc.config.loadAssignment) continue;
      const cla = cfg.endpoints.get(uc.config.edsClusterConfig?.serviceName || name);
      if (!cla) continue;
      const prev = this.#cla.get(name);
      if (prev && (prev === cla || equals(ClusterLoadAssignmentSchema, prev, cla))) continue;
      uc.setEndpoints(cla);
      this.#cla.set(name, cla);
    }
    for (const [name, rc] of cfg.routes) {
      const cur = this.#tables.get(name);
      if (cur && equals(RouteConfigurationSchema, cur.rc, rc)) continue;
      this.#tables.set(name, { rc, table: new RouteTable(rc, routePerFilter) });
    }
    for (const name of this.#tables.keys()) if (!cfg.routes.has(name)) this.#tables.delete(name);
    this.#listenerRoute.clear();
    for (const s of this.#slots.values()) {
      s.chain = undefined;
      s.limits = undefined;
    }
    // Contexts of the certificates that did not change are kept (the previous states are read by #edge).
    const prevEdges = new Map([...this.#edges].map(([k, e]) => [k, e.state]));
    for (const e of this.#edges.values()) e.state = undefined;
    this.caches.mark();
    this.rateLimits.mark();
    for (const [name, l] of cfg.listeners) {
      this.#listenerRoute.set(name, l.routeName);
      // Connection limits hold as soon as the Listener is applied, routes or not.
      this.#slot(name).limits = l.limits;
      const table = this.#tables.get(l.routeName)?.table;
      if (table) this.#slot(name).chain = this.#compose(name, l, table);
      if (l.edge) {
        for (const c of l.edge) {
          const t = this.#tables.get(c.routeName)?.table;
          if (t) this.#slot(`${name}|${c.routeName}`).chain = this.#compose(name, c, t);
        }
        this.edgeFor(name);
        this.#edges.get(name)!.state = this.#edge(name, l.edge, cfg.secrets, prevEdges.get(name));
      }
      if (this.tracing && (name === SIDECAR_LISTENER.inbound || name === SIDECAR_LISTENER.outbound)) this.tracing.configure(name, l.tracing);
    }
    this.caches.sweep();
    this.rateLimits.sweep();
    if (inbound) this.#inbound = inbound.transport;
    const routed = (l: string) => {
      const rn = this.#listenerRoute.get(l);
      const edge = cfg.listeners.get(l)?.edge;
      if (edge) return edge.every((c) => this.#tables.has(c.routeName) && (!c.terminate || c.terminate.certificates.every((n) => cfg.secrets.get(n)?.kind === 'certificate')));
      return rn !== undefined && this.#tables.has(rn);
    };
    this.ready ||= this.required ? this.required.every(routed) : cfg.clusters.size > 0 && [...cfg.listeners.keys()].every(routed);
  }

  #newCluster(c: Cluster): UpstreamCluster {
    // The local app's cluster speaks what --app-protocol says, whatever the control plane thinks.
    const inbound = (c.metadata?.filterMetadata.weft as { inbound?: boolean } | undefined)?.inbound === true;
    return new UpstreamCluster(c, inbound ? this.appProtocol !== 'http' : undefined, inbound ? undefined : this.mesh);
  }

  close(): void {
    this.caches.close();
    this.rateLimits.close();
    for (const c of this.#clusters.values()) c.close();
  }
}
