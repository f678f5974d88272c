/**
 * The sidecar's running config, built from each accepted xDS update: one compiled route table
 * per listener and one UpstreamCluster per Cluster. Unchanged resources are kept as they are
 * (their hosts' health, counters and pools survive); changed ones are rebuilt and the old ones
 * closed gracefully. Requests read `routeTable()` and `cluster()` and nothing else.
 */
import { sameDecoded } from '../common/wire-decode.js';
import { SIDECAR_LISTENER } from '../common/xds-types.js';
import type { Cluster } from '../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import type { HeldEndpoints } from './xds/types/endpoint.js';
import type { HeldCluster } from './xds/types/cluster.js';
import type { RouteConfiguration } from '../proto/gen/envoy/config/route/v3/route_pb.js';
import { router } from './http/router.js';
import { RouteTable, type CompiledRoute } from './routing/route-table.js';
import { compose, type FilterContext, type Handler } from './http/filter.js';
import { CacheStores } from './http/cache/stores.js';
import { JwksRegistry, type OriginEndpoint } from './http/jwt/jwks.js';
import { originTlsOf } from './xds/types/tls.js';
import { Problems } from './xds/types/decoded.js';
import { RateLimitStores } from './http/ratelimit/stores.js';
import { routePerFilter } from './http/filters/index.js';
import { dispatch, type ListenerChain } from './http/hcm.js';
import type { ListenerContext } from './listeners/http-listener.js';
import { UpstreamCluster } from './upstream/cluster.js';
import type { XdsConfig } from './xds/ads-client.js';
import type { MeshTls } from './tls/mesh-tls.js';
import type { InboundTransport } from './xds/types/tls.js';
import type { RouterTracing, Tracing, TracingConfig } from './telemetry/tracing.js';
import type { DownstreamLimits, EdgeChain, SidecarListener } from './xds/types/listener.js';
import type { TcpListenerConfig } from './xds/types/tcp-listener.js';
import type { TcpSource } from './tcp/tcp-listener.js';
import type { ServingCertificate, SidecarSecret } from './xds/types/tls.js';
import { EdgeState, type EdgeSource } from './listeners/edge.js';
import { GATEWAY_LISTENER_PREFIX } from './listeners/gateway-listeners.js';

export class Runtime {
  readonly #clusters = new Map<string, UpstreamCluster>();
  readonly #cla = new Map<string, HeldEndpoints>();
  /** What each cluster in #clusters was built from (to skip unchanged ones). */
  readonly #held = new Map<string, HeldCluster>();
  readonly #tables = new Map<string, { rc: RouteConfiguration; table: RouteTable }>();
  readonly #listenerRoute = new Map<string, string>();
  #inbound: InboundTransport | undefined;
  /** Each listener's current chain, in a slot its ListenerContext reads (no lookup per request). */
  readonly #slots = new Map<string, { chain: ListenerChain | undefined; limits: DownstreamLimits | undefined }>();
  /** Layer-4 listeners' configs (tcp_proxy chains), in a slot their TcpListener reads per connection. */
  readonly #tcp = new Map<string, { config: TcpListenerConfig | undefined }>();
  /** Gateway listeners: each one's chains and certificates, as the last applied config built them. */
  readonly #edges = new Map<string, { state: EdgeState | undefined }>();
  /** Set once listeners, routes and clusters have all arrived. */
  ready = false;
  /** The HTTP cache's stores: they outlive the chains composed from each update. */
  readonly caches = new CacheStores();
  /** Clusters to servers outside the mesh (remote JWKS): fetched through, never routed to. */
  readonly #origins = new Map<string, OriginEndpoint>();
  /** Remote JWKS key sets: they outlive the chains too. */
  readonly jwks = new JwksRegistry((name) => this.#origins.get(name));
  /** The rate-limit filter's Redis connections, local buckets and counters, kept across updates likewise. */
  readonly rateLimits = new RateLimitStores();

  constructor(
    /** What the app speaks; 'auto': what the inbound cluster's protocol options say (the control plane decides from the Service). */
    private readonly appProtocol: 'auto' | 'http' | 'http2' | 'grpc',
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

  /** A layer-4 listener's config as the last applied update built it (undefined: none now). */
  tcpFor(listener: string): TcpSource {
    let slot = this.#tcp.get(listener);
    if (!slot) this.#tcp.set(listener, (slot = { config: undefined }));
    const box = slot;
    return { current: () => box.config };
  }

  /** What one listener serves requests with: its chain as the last applied config built it. */
  contextFor(listener: string): ListenerContext {
    const slot = this.#slot(listener);
    const tracing = this.#tracingOf(listener);
    return { chain: () => slot.chain, limits: () => slot.limits, ...(tracing ? { tracing } : {}) };
  }

  /**
   * A listener's tracing: a sidecar's inbound (SERVER spans) and outbound (CLIENT spans); every
   * listener of a gateway (a SERVER span per request and a CLIENT span per upstream attempt,
   * its children). Gateway listeners are the ones named `gateway.<listener>` (a chain's slot
   * adds `|<route config>`).
   */
  #tracingOf(name: string): RouterTracing | undefined {
    if (!this.tracing) return undefined;
    if (name === SIDECAR_LISTENER.inbound || name === SIDECAR_LISTENER.outbound) return { t: this.tracing, listener: name };
    return name.startsWith(GATEWAY_LISTENER_PREFIX) ? { t: this.tracing, listener: 'gateway' } : undefined;
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
  #compose(name: string, slotName: string, l: Pick<SidecarListener, 'filters' | 'paths' | 'upgrades'>, table: RouteTable): ListenerChain {
    const tracing = this.#tracingOf(name);
    // Sub-requests go through the chain this slot holds when they are made (the chain built here, or a newer one).
    const slot = this.#slot(slotName);
    const source = () => slot.chain;
    const ctx: FilterContext = {
      listener: name,
      caches: this.caches,
      jwks: this.jwks,
      rateLimits: this.rateLimits,
      dispatch: (req, res, info) => dispatch(source, req, res, info),
      ...(this.onDeny ? { onDeny: this.onDeny } : {}),
      ...(tracing ? { tracing } : {}),
    };
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
    this.#origins.clear();
    for (const [name, c] of cfg.clusters) {
      if (c.origin) {
        const o = originEndpoint(c.cluster);
        if (o) this.#origins.set(name, o);
        continue;
      }
      const cur = this.#clusters.get(name);
      if (cur && this.#held.get(name)?.sameAs(c)) continue;
      cur?.close();
      this.#clusters.set(name, this.#newCluster(c.cluster));
      this.#held.set(name, c);
      this.#cla.delete(name);
    }
    for (const [name, cur] of this.#clusters) {
      if (!cfg.clusters.has(name) || this.#origins.has(name)) {
        cur.close();
        this.#clusters.delete(name);
        this.#held.delete(name);
        this.#cla.delete(name);
      }
    }
    for (const name of this.#clusters.keys()) {
      const a = this.#held.get(name)?.assignment;
      const cla = a === undefined ? undefined : cfg.endpoints.get(a);
      if (!cla) continue;
      const prev = this.#cla.get(name);
      if (prev?.sameAs(cla)) continue;
      this.#clusters.get(name)!.setEndpoints(cla.cla);
      this.#cla.set(name, cla);
    }
    for (const [name, rc] of cfg.routes) {
      const cur = this.#tables.get(name);
      if (cur && sameDecoded(cur.rc, rc)) continue;
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
    this.jwks.mark();
    // A gateway's listeners share one tracer (the control plane gives each HCM the same settings).
    let gatewayTracing: TracingConfig | undefined;
    this.rateLimits.mark();
    for (const t of this.#tcp.values()) t.config = undefined;
    for (const [name, l] of cfg.listeners) {
      if (l.kind === 'tcp') {
        this.tcpFor(name);
        this.#tcp.get(name)!.config = l;
        continue;
      }
      this.#listenerRoute.set(name, l.routeName);
      // Connection limits hold as soon as the Listener is applied, routes or not.
      this.#slot(name).limits = l.limits;
      const table = this.#tables.get(l.routeName)?.table;
      if (table) this.#slot(name).chain = this.#compose(name, name, l, table);
      if (l.edge) {
        for (const c of l.edge) {
          const t = this.#tables.get(c.routeName)?.table;
          if (t) this.#slot(`${name}|${c.routeName}`).chain = this.#compose(name, `${name}|${c.routeName}`, c, t);
        }
        this.edgeFor(name);
        this.#edges.get(name)!.state = this.#edge(name, l.edge, cfg.secrets, prevEdges.get(name));
      }
      if (this.tracing && (name === SIDECAR_LISTENER.inbound || name === SIDECAR_LISTENER.outbound)) this.tracing.configure(name, l.tracing);
      else if (name.startsWith(GATEWAY_LISTENER_PREFIX)) gatewayTracing ??= l.tracing ?? l.edge?.find((c) => c.tracing)?.tracing;
    }
    this.tracing?.configure('gateway', gatewayTracing);
    this.caches.sweep();
    this.jwks.sweep();
    this.rateLimits.sweep();
    if (inbound) this.#inbound = inbound.transport;
    const routed = (l: string) => {
      const rn = this.#listenerRoute.get(l);
      const x = cfg.listeners.get(l);
      // A TCP listener needs no routes: it is ready when the clusters its chains name are there.
      if (x?.kind === 'tcp') return x.chains.every((c) => c.proxy.clusters.every((k) => this.#clusters.has(k.name)));
      const edge = x?.edge;
      if (edge) return edge.every((c) => this.#tables.has(c.routeName) && (!c.terminate || c.terminate.certificates.every((n) => cfg.secrets.get(n)?.kind === 'certificate')));
      return rn !== undefined && this.#tables.has(rn);
    };
    this.ready ||= this.required ? this.required.every(routed) : cfg.clusters.size > 0 && [...cfg.listeners.keys()].every(routed);
  }

  #newCluster(c: Cluster): UpstreamCluster {
    // The local app's cluster speaks what --app-protocol says, whatever the control plane thinks.
    const inbound = (c.metadata?.filterMetadata.weft as { inbound?: boolean } | undefined)?.inbound === true;
    return new UpstreamCluster(c, inbound && this.appProtocol !== 'auto' ? this.appProtocol !== 'http' : undefined, inbound ? undefined : this.mesh);
  }

  close(): void {
    this.caches.close();
    this.jwks.close();
    this.rateLimits.close();
    for (const c of this.#clusters.values()) c.close();
  }
}

/** An origin cluster's one endpoint and TLS (the decoder checked both). */
function originEndpoint(c: Cluster): OriginEndpoint | undefined {
  const tls = originTlsOf(c, new Problems(c.name));
  const e = c.loadAssignment?.endpoints[0]?.lbEndpoints[0]?.hostIdentifier;
  const sa = e?.case === 'endpoint' && e.value.address?.address.case === 'socketAddress' ? e.value.address.address.value : undefined;
  if (!tls || !sa || sa.portSpecifier.case !== 'portValue') return undefined;
  return { host: sa.address, port: sa.portSpecifier.value, ca: tls.ca, sni: tls.sni };
}
