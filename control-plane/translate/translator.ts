/**
 * Translator: (config model, registry, node) -> that node's Snapshot. Pure and memoized: one
 * Translator exists per (model revision, registry revision); resources that do not depend on the
 * node are built once and shared, and nodes of the same class get the very same Snapshot.
 */
import type { MeshModel, ServiceResource, AppProtocol, GatewayResource, GatewayListener, ClientTrafficPolicySpec, BackendRef, TCPRouteResource, TLSRouteResource } from '../config/types.js';
import { TYPE_URL } from '../../common/xds-types.js';
import type { RegistryView } from '../registry/types.js';
import type { NodeInfo } from '../xds/node.js';
import { Snapshot, type Resource } from '../xds/snapshot.js';
import { inboundCluster, outboundCluster } from './clusters.js';
import { jwksClusters } from './filters/jwt-authn.js';
import { loadAssignment, serviceEndpoints } from './endpoints.js';
import { apiListener, gatewayListener, routeConfiguration, socketListener, type GatewayChain, type VirtualHostInit } from './listeners.js';
import { INBOUND_LISTENER, OUTBOUND_LISTENER, OUTBOUND_ROUTE, clusterName, gatewayDomains, gatewayListenerName, hostForms, inboundClusterName, inboundRouteName } from './names.js';
import { gatewayHosts, routeHostnames, routesFor } from './routes.js';
import { certificateSecret, gatewayCertSecretName, trustBundleSecret } from './tls.js';
import { listenerFilters, virtualHostConfigs } from './filters/index.js';
import { clientTrafficFor, hcmLimits, networkLimitFilters } from './client-limits.js';
import { listenerIsTls } from './security-headers.js';
import { policyForListener } from '../config/kinds/policy-attachment.js';
import { attachedHostnames, isL4Listener } from '../config/kinds/gateway.js';
import { appProtocolOf, isTcpService, soleTcpPort } from '../config/kinds/service.js';
import { DEFAULT_TCP_IDLE_MS, connectOptions, gatewayL4Listener, inboundTcpResources, outboundTcpListener, tcpProxyFilter, type L4Chain } from './tcp.js';
import type { RouteConfiguration } from '../../proto/gen/envoy/config/route/v3/route_pb.js';
import { create } from '@bufbuild/protobuf';
import { RouteSchema } from '../../proto/gen/envoy/config/route/v3/route_components_pb.js';

/** Ports a sidecar binds; the sidecar may override them locally, the listener carries defaults. */
export const SIDECAR_OUTBOUND_PORT = 15001;
export const SIDECAR_INBOUND_PORT = 15006;

/** What the translator needs from the CA: the trust bundle (PEM, signing root first). */
export interface TrustView {
  readonly bundlePem: string;
}

/** Where spans go when MeshConfig names no tracing endpoint: the control plane's own receiver. */
export interface TelemetryDefaults {
  readonly otlpUrl?: string;
}

/**
 * Resources kept from one Translator to the next. A Translator lives for one (model, registry,
 * trust) revision, but most revisions change little: an instance registering touches one
 * service's endpoints; an apply touches a few resources. Entries are reused only when every input
 * they were built from is the very same object (config resources are immutable and keep their
 * identity while unchanged; the registry keeps a service's endpoint array until it changes), so
 * 1,000 proxies connecting rebuild one assignment each instead of the whole mesh each.
 */
export class TranslationCache {
  readonly clusters = new Map<string, { inputs: readonly unknown[]; resource: Resource }>();
  readonly cla = new Map<string, { inputs: readonly unknown[]; resource: Resource }>();

  get<K extends 'clusters' | 'cla'>(kind: K, key: string, inputs: readonly unknown[], build: () => Resource): Resource {
    const m = this[kind];
    const hit = m.get(key);
    if (hit && hit.inputs.length === inputs.length && hit.inputs.every((x, i) => x === inputs[i])) return hit.resource;
    const resource = build();
    m.set(key, { inputs, resource });
    return resource;
  }

  /** Drops entries built for service objects the model no longer holds (changed or deleted). */
  retainServices(services: ReadonlySet<unknown>): void {
    for (const m of [this.clusters, this.cla]) for (const [k, e] of m) if (!services.has(e.inputs[0])) m.delete(k);
  }
}

interface ClusterSpec {
  svc: ServiceResource;
  portIndex: number;
  subset: string;
  labels?: Readonly<Record<string, string>>;
}

export class Translator {
  readonly #model: MeshModel;
  readonly #registry: RegistryView;
  readonly #specs: ClusterSpec[] = [];
  readonly #clusters = new Map<string, Resource>();
  readonly #clusterProxyless = new Map<string, Resource>();
  readonly #clusterTls = new Map<string, Resource>();
  readonly #trust: TrustView | undefined;
  readonly #telemetry: TelemetryDefaults;
  #secret: Resource | undefined;
  readonly #cla = new Map<string, Resource>();
  readonly #outbound = new Map<string, Resource>();
  readonly #apiListeners = new Map<string, Resource[]>();
  readonly #gateways = new Map<string, Resource[]>();
  readonly #snapshots = new Map<string, Snapshot>();
  readonly #allServices: ReadonlySet<string>;
  readonly #shared: TranslationCache | undefined;

  constructor(model: MeshModel, registry: RegistryView, trust?: TrustView, telemetry: TelemetryDefaults = {}, shared?: TranslationCache) {
    this.#shared = shared;
    this.#telemetry = telemetry;
    this.#model = model;
    this.#registry = registry;
    // No CA, or mTLS turned off mesh-wide: plaintext everywhere.
    this.#trust = trust?.bundlePem && model.mesh.mtls.mode !== 'DISABLE' ? trust : undefined;
    for (const svc of model.services.values()) {
      const policy = model.trafficPolicies.get(`Service/${svc.metadata.namespace}/${svc.metadata.name}`);
      svc.spec.ports.forEach((_, portIndex) => {
        this.#specs.push({ svc, portIndex, subset: '' });
        for (const s of policy?.spec.subsets ?? []) this.#specs.push({ svc, portIndex, subset: s.name, labels: s.labels });
      });
    }
    this.#allServices = new Set([...model.services.values()].map((s) => `${s.metadata.namespace}/${s.metadata.name}`));
  }

  /** Services whose endpoints this node's snapshot includes (`namespace/name`). */
  dependenciesOf(_node: NodeInfo): ReadonlySet<string> {
    // Every proxy sees every service today (no egress scoping resource yet); the xDS server still
    // only pushes EDS to streams subscribed to the changed assignments.
    return this.#allServices;
  }

  snapshotFor(node: NodeInfo): Snapshot {
    const zone = this.#zoneKey(node);
    const key = node.role === 'proxyless'
      ? `p|${node.namespace}|${zone}`
      : `${node.role}|${node.namespace}|${node.service ?? ''}|${node.appPort ?? ''}|${node.appProtocol ?? ''}|${zone}|${node.role === 'gateway' ? `${node.gateway ?? ''}|${node.peerId !== undefined}` : ''}`;
    let snap = this.#snapshots.get(key);
    if (!snap) {
      snap = this.#build(node, zone);
      this.#snapshots.set(key, snap);
    }
    return snap;
  }

  /** The node's zone matters only when some policy balances by locality. */
  #zoneKey(node: NodeInfo): string | undefined {
    if (!node.zone) return undefined;
    for (const p of this.#model.trafficPolicies.values()) if (p.spec.loadBalancer.localityAware) return node.zone;
    return undefined;
  }

  #build(node: NodeInfo, zone: string | undefined): Snapshot {
    const proxyless = node.role === 'proxyless';
    const out: Resource[] = [];
    const mtls = !proxyless && this.#trust !== undefined;
    if (mtls) out.push((this.#secret ??= trustBundleSecret(this.#trust!.bundlePem)));
    for (const spec of this.#specs) {
      out.push(this.#cluster(spec, proxyless, mtls));
      out.push(this.#loadAssignment(spec, zone));
    }
    if (node.role === 'gateway') {
      // A gateway serves its Gateway's listeners instead of an outbound one; without a Gateway
      // (none named, or not applied yet) it holds clusters and endpoints only.
      const gw = node.gateway ? this.#model.gateways.get(`Gateway/${node.gateway}`) : undefined;
      // TLS keys go only to a node authenticated as the Gateway's own identity (ca/service.ts
      // authorizeXds); a node on the plaintext xDS port never gets them.
      if (gw) out.push(...this.#gatewayListeners(gw, node.service).filter((r) => r.typeUrl !== TYPE_URL.secret || node.peerId !== undefined));
      out.push(...jwksClusters(this.#model, out));
      return new Snapshot(out);
    }
    const outboundRoute = this.#outboundRoute(node.namespace, proxyless);
    out.push(outboundRoute);
    if (proxyless) out.push(...this.#proxylessListeners(node.namespace, outboundRoute));
    else {
      const filters = listenerFilters({ model: this.#model, side: 'outbound', namespace: node.namespace, routes: outboundRoute.message as RouteConfiguration });
      out.push(socketListener(OUTBOUND_LISTENER, '127.0.0.1', SIDECAR_OUTBOUND_PORT, OUTBOUND_ROUTE, this.#model.mesh, { filters, tracing: this.#tracing(node.service) }));
      // A sidecar that names no app protocol (--app-protocol auto) speaks what its Service's ports say.
      if (node.role === 'sidecar' && node.service && node.appPort) out.push(...this.#inbound(node.namespace, node.service, node.appPort, node.appProtocol ?? appProtocolOf(this.#model.services.get(`Service/${node.namespace}/${node.service}`))));
      if (node.role === 'sidecar' && node.service) out.push(...this.#upstreams(node.namespace, node.service));
      out.push(...jwksClusters(this.#model, out));
    }
    return new Snapshot(out);
  }

  #cluster(spec: ClusterSpec, proxyless: boolean, mtls: boolean): Resource {
    const name = clusterName(spec.svc.metadata.namespace, spec.svc.metadata.name, spec.svc.spec.ports[spec.portIndex]!.port, spec.subset);
    const memo = proxyless ? this.#clusterProxyless : mtls ? this.#clusterTls : this.#clusters;
    let r = memo.get(name);
    if (!r) {
      const policy = this.#model.trafficPolicies.get(`Service/${spec.svc.metadata.namespace}/${spec.svc.metadata.name}`);
      const build = () => outboundCluster(spec.svc, spec.portIndex, spec.subset, policy, proxyless, mtls ? { trustDomain: this.#model.mesh.trustDomain, minProtocolVersion: this.#model.mesh.mtls.minProtocolVersion } : undefined);
      const kind = proxyless ? 'p' : mtls ? 't' : 's';
      // Inputs: the service, its policy and the mesh settings (subset labels live in the policy).
      r = this.#shared ? this.#shared.get('clusters', `${kind}|${name}`, [spec.svc, policy, this.#model.mesh, spec.portIndex], build) : build();
      memo.set(name, r);
    }
    return r;
  }

  #loadAssignment(spec: ClusterSpec, zone: string | undefined): Resource {
    const name = clusterName(spec.svc.metadata.namespace, spec.svc.metadata.name, spec.svc.spec.ports[spec.portIndex]!.port, spec.subset);
    const policy = this.#model.trafficPolicies.get(`Service/${spec.svc.metadata.namespace}/${spec.svc.metadata.name}`);
    const callerZone = policy?.spec.loadBalancer.localityAware ? zone : undefined;
    const key = `${name}|${callerZone ?? ''}`;
    let r = this.#cla.get(key);
    if (!r) {
      const build = () => loadAssignment(name, serviceEndpoints(spec.svc, spec.portIndex, this.#registry), spec.labels, callerZone);
      const registered = this.#registry.endpoints(spec.svc.metadata.namespace, spec.svc.metadata.name);
      r = this.#shared ? this.#shared.get('cla', key, [spec.svc, policy, registered, spec.portIndex], build) : build();
      this.#cla.set(key, r);
    }
    return r;
  }

  /** One virtual host per service port, host forms as seen from `namespace`. */
  #outboundRoute(namespace: string, proxyless: boolean): Resource {
    const key = `${namespace}|${proxyless}`;
    let r = this.#outbound.get(key);
    if (r) return r;
    const vhosts: VirtualHostInit[] = [];
    const refs = new Set<string>();
    for (const svc of this.#model.services.values()) {
      svc.spec.ports.forEach((p, i) => {
        // A tcp port has no requests, so no virtual host: callers reach it through an upstream's local port.
        if (p.protocol === 'tcp') return;
        const ctx = { model: this.#model, svc, port: p.port, grpc: p.protocol === 'grpc', refs, proxyless };
        const perFilter = { typedPerFilterConfig: virtualHostConfigs({ model: this.#model, side: proxyless ? 'proxyless' : 'outbound', svc, port: p }) };
        vhosts.push({ name: `${svc.metadata.name}.${svc.metadata.namespace}:${p.port}`, domains: hostForms(svc, i, namespace), routes: routesFor(ctx), ...perFilter });
        // Route hostnames: each its own virtual host, so a route for www.shop.example never
        // captures requests to the service's other names (validation keeps them unique).
        for (const h of routeHostnames(ctx)) {
          vhosts.push({ name: `${h}:${p.port}`, domains: i === 0 ? [h, `${h}:${p.port}`] : [`${h}:${p.port}`], routes: routesFor({ ...ctx, hostname: h }), ...perFilter });
        }
      });
    }
    r = routeConfiguration(OUTBOUND_ROUTE, vhosts, refs);
    this.#outbound.set(key, r);
    return r;
  }

  #proxylessListeners(namespace: string, routes: Resource): Resource[] {
    let list = this.#apiListeners.get(namespace);
    if (list) return list;
    list = [];
    const filters = listenerFilters({ model: this.#model, side: 'proxyless', namespace, routes: routes.message as RouteConfiguration });
    for (const svc of this.#model.services.values()) {
      svc.spec.ports.forEach((p, i) => {
        // gRPC clients cannot speak raw TCP: a tcp port gets no API listener.
        if (p.protocol === 'tcp') return;
        for (const host of hostForms(svc, i, namespace)) list!.push(apiListener(host, OUTBOUND_ROUTE, filters));
      });
    }
    this.#apiListeners.set(namespace, list);
    return list;
  }

  /**
   * Per Gateway listener L: a RouteConfiguration `gateway.<L>` (one virtual host per host name
   * its attached routes serve) and a filter chain whose HCM is built like the sidecar's outbound
   * one and takes that route over RDS. Per port: one Listener, named after the port's first
   * Gateway listener (`gateway.<L>`), holding the chains of every Gateway listener on the port
   * (several only for HTTPS, told apart by SNI). HTTPS chains name their certificates over SDS;
   * the certificate Secrets are sent with them (only to gateways serving this Gateway).
   */
  #gatewayListeners(gw: GatewayResource, service: string | undefined): Resource[] {
    const key = `${gw.metadata.namespace}/${gw.metadata.name}|${service ?? ''}`;
    let list = this.#gateways.get(key);
    if (list) return list;
    list = [];
    const ns = gw.metadata.namespace;
    const byPort = new Map<number, { name: string; first: string; clientTraffic: ClientTrafficPolicySpec | undefined; chains: GatewayChain[] }>();
    const certs = new Set<string>();
    // Layer-4 listeners take the connections of a port alone (validation: TCP has its port, TLS
    // shares only with TLS), so they are built apart from the HTTP ones.
    list.push(...this.#gatewayL4Listeners(gw));
    for (const l of gw.spec.listeners) {
      if (isL4Listener(l)) continue;
      const name = gatewayListenerName(l.name);
      const refs = new Set<string>();
      const headers = { listener: policyForListener(this.#model.securityHeadersPolicies.values(), gw, l)?.spec, tls: listenerIsTls(l) };
      const vhosts: VirtualHostInit[] = gatewayHosts(this.#model, gw, l, refs, headers).map((h) => ({ name: `${h.hostname}:${l.port}`, domains: gatewayDomains(h.hostname, l.port), routes: h.routes }));
      const routes = routeConfiguration(name, vhosts, refs);
      const clientTraffic = clientTrafficFor(this.#model, gw, l);
      const filters = listenerFilters({ model: this.#model, side: 'gateway', namespace: ns, routes: routes.message as RouteConfiguration, gateway: { gw, listener: l }, ...(clientTraffic ? { clientTraffic } : {}) });
      list.push(routes);
      const tracing = this.#tracing(service ?? gw.metadata.name);
      const certificates = (l.tls?.certificateRefs ?? []).map((c) => gatewayCertSecretName(ns, c.name));
      for (const c of l.tls?.certificateRefs ?? []) certs.add(c.name);
      const chain: GatewayChain = { routeName: name, filters, ...(tracing ? { tracing } : {}), ...(l.tls?.mode === 'Terminate' ? { tls: { serverNames: l.hostname ? [l.hostname] : [], certificates } } : {}) };
      // Connection limits (head size, timeouts, connection count) hold before SNI picks a chain:
      // a port takes its first listener's; request limits (body, URI) are each listener's own.
      const port = byPort.get(l.port);
      const connection = port ? port.clientTraffic : clientTraffic;
      chain.limits = hcmLimits(connection);
      chain.networkFilters = networkLimitFilters(connection, gatewayListenerName(port?.first ?? l.name));
      if (port) port.chains.push(chain);
      else byPort.set(l.port, { name, first: l.name, clientTraffic, chains: [chain] });
    }
    for (const [port, { name, chains }] of byPort) list.push(gatewayListener(name, port, chains, this.#model.mesh));
    for (const c of [...certs].sort()) {
      const s = this.#model.secrets.get(`Secret/${ns}/${c}`);
      if (s) list.push(certificateSecret(gatewayCertSecretName(ns, c), s.spec.certificatePem, s.spec.privateKeyPem));
    }
    this.#gateways.set(key, list);
    return list;
  }

  /**
   * A Gateway's TCP and TLS (passthrough) listeners: per port, one Listener named after the
   * port's first Gateway listener. TCP: one chain to the backends of the TCPRoute attached to it.
   * TLS: a chain per SNI name its TLSRoutes serve (their hostnames met with the listener's; `*`
   * is the chain without server_names), the port's listeners taken most specific hostname first
   * so a name served twice goes where Gateway API sends it. Each chain carries the port's
   * ClientTrafficPolicy connection_limit (as HTTP chains) and a tcp_proxy whose idle timeout is
   * the shortest of its listener's ClientTrafficPolicy idleTimeout and the backends' TrafficPolicy
   * idleTimeout (1h when none). A port no route attaches to gets no Listener: nothing would take its connections.
   */
  #gatewayL4Listeners(gw: GatewayResource): Resource[] {
    const byPort = new Map<number, GatewayListener[]>();
    for (const l of gw.spec.listeners) if (isL4Listener(l)) byPort.set(l.port, [...(byPort.get(l.port) ?? []), l]);
    const out: Resource[] = [];
    for (const [port, ls] of byPort) {
      const first = ls[0]!;
      const name = gatewayListenerName(first.name);
      const connection = clientTrafficFor(this.#model, gw, first);
      const limits = networkLimitFilters(connection, name);
      const sorted = [...ls].sort((a, b) => hostnameRank(a.hostname) - hostnameRank(b.hostname) || (b.hostname?.length ?? 0) - (a.hostname?.length ?? 0));
      const taken = new Set<string>();
      const chains: Array<{ chain: L4Chain; rank: number }> = [];
      for (const l of sorted) {
        const routes: ReadonlyArray<TCPRouteResource | TLSRouteResource> = l.protocol === 'TCP' ? this.#model.tcpRoutes : this.#model.tlsRoutes;
        for (const r of routes) {
          const hosts = attachedHostnames(r, gw, l);
          const rule = r.spec.rules[0];
          if (!hosts || !rule) continue;
          const backends = this.#l4Backends(rule.backendRefs);
          if (!backends.length) continue;
          // The idle timeout is the chain's own (its listener's policy); the connection limit holds
          // before a chain is chosen, so a port takes its first listener's (as HTTPS chains do).
          const idleTimeoutMs = Math.min(clientTrafficFor(this.#model, gw, l)?.idleTimeoutMs ?? Infinity, ...rule.backendRefs.map((b) => this.#model.trafficPolicies.get(`Service/${b.namespace}/${b.name}`)?.spec.connectionPool?.idleTimeoutMs ?? Infinity));
          const policies = rule.backendRefs.map((b) => this.#model.trafficPolicies.get(`Service/${b.namespace}/${b.name}`)?.spec);
          const filters = [...limits, tcpProxyFilter(name, backends, { idleTimeoutMs: Number.isFinite(idleTimeoutMs) ? idleTimeoutMs : DEFAULT_TCP_IDLE_MS, ...connectOptions(policies) })];
          const clusters = backends.map((b) => b.name);
          if (l.protocol === 'TCP') {
            // Validation allows one TCPRoute per TCP listener (the first by name).
            chains.push({ chain: { filters, clusters }, rank: 0 });
            break;
          }
          // A name served twice (routes of different listeners on the port): the most specific listener keeps it.
          for (const h of hosts.filter((x) => !taken.has(x))) {
            taken.add(h);
            chains.push({ chain: { serverNames: h === '*' ? [] : [h], filters, clusters }, rank: hostnameRank(h === '*' ? undefined : h) });
          }
        }
      }
      if (!chains.length) continue;
      // Exact names, then wildcards, then the default chain (Envoy picks by specificity anyway; this reads best in a dump).
      chains.sort((a, b) => a.rank - b.rank);
      out.push(gatewayL4Listener(name, port, first.protocol === 'TCP' ? 'TCP' : 'TLS', chains.map((c) => c.chain)));
    }
    return out;
  }

  /** The weighted clusters of a layer-4 route rule's backends (weight 0: no share). */
  #l4Backends(refs: readonly BackendRef[]): Array<{ name: string; weight: number }> {
    return refs.filter((b) => b.weight > 0).flatMap((b) => {
      const svc = this.#model.services.get(`Service/${b.namespace}/${b.name}`);
      const port = b.port ?? (svc && soleTcpPort(svc));
      return port === undefined ? [] : [{ name: clusterName(b.namespace, b.name, port, b.subset ?? ''), weight: b.weight }];
    });
  }

  /** The listeners of the upstreams the Service `namespace/service` declares (one per local port). */
  #upstreams(namespace: string, service: string): Resource[] {
    const svc = this.#model.services.get(`Service/${namespace}/${service}`);
    return (svc?.spec.upstreams ?? []).flatMap((u) => {
      const target = this.#model.services.get(`Service/${u.namespace}/${u.service}`);
      const port = u.port ?? (target && soleTcpPort(target));
      // Validation guarantees both; a config the references check would refuse yields no listener.
      if (!target || port === undefined) return [];
      return [outboundTcpListener(u, port, this.#model.trafficPolicies.get(`Service/${u.namespace}/${u.service}`)?.spec)];
    });
  }

  /** The tracer settings for a sidecar of `service` (none without an endpoint). */
  #tracing(service: string | undefined): { endpoint: string; serviceName: string } | undefined {
    const endpoint = this.#model.mesh.tracing.endpoint ?? this.#telemetry.otlpUrl;
    return endpoint ? { endpoint, serviceName: service ?? 'weft-proxy' } : undefined;
  }

  #inbound(namespace: string, service: string, appPort: number, protocol: AppProtocol): Resource[] {
    const svc = this.#model.services.get(`Service/${namespace}/${service}`);
    const mode = this.#trust ? (svc?.spec.mtls?.mode ?? this.#model.mesh.mtls.mode) : 'DISABLE';
    // A tcp service's app: tcp_proxy to it, no HTTP, no routes. The Service decides (its sidecar
    // must run --app-protocol tcp, and says loudly when it does not); without a Service, the node.
    const tcp = svc ? isTcpService(svc) : protocol === 'tcp';
    if (tcp) return inboundTcpResources(this.#model, namespace, service, appPort, SIDECAR_INBOUND_PORT, mode, this.#model.mesh.mtls.minProtocolVersion);
    const cluster = inboundCluster(namespace, service, appPort, protocol === 'tcp' ? 'http' : protocol);
    const routeName = inboundRouteName(namespace, service);
    const route = create(RouteSchema, {
      name: 'inbound',
      match: { pathSpecifier: { case: 'prefix', value: '/' } },
      action: { case: 'route', value: { clusterSpecifier: { case: 'cluster', value: inboundClusterName(namespace, service, appPort) }, timeout: { seconds: 0n } } },
    });
    const routeConfig = routeConfiguration(routeName, [{ name: 'inbound', domains: ['*'], routes: [route], ...(svc ? { typedPerFilterConfig: virtualHostConfigs({ model: this.#model, side: 'inbound', svc }) } : {}) }], [cluster.name]);
    return [
      cluster,
      routeConfig,
      socketListener(INBOUND_LISTENER, '0.0.0.0', SIDECAR_INBOUND_PORT, routeName, this.#model.mesh, {
        mtls: mode,
        filters: listenerFilters({ model: this.#model, side: 'inbound', namespace, service, routes: routeConfig.message as RouteConfiguration }),
        tracing: this.#tracing(service),
      }),
    ];
  }
}


/** Gateway API hostname precedence: exact names, then wildcards, then none (any). */
function hostnameRank(h: string | undefined): number {
  return h === undefined ? 2 : h.startsWith('*.') ? 1 : 0;
}
