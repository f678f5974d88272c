/**
 * `weft explain`: what one listener of a proxy decides for a request, step by step, computed by
 * the code the proxy runs on the config it accepted. The route table is the one the Runtime
 * builds (RouteTable, with the filter registry's per-route parser), the path is normalized by the
 * connection manager's normalizePath, the virtual host and routes are chosen by the table's own
 * selection and compiled matchers (RouteTable.explain), each filter is asked through its
 * factory's `explain` over the config its `parse` produced, and the balancing policy comes from
 * policyFor. Callers: the sidecar's admin `/explain` (with its hosts' live health) and the control
 * plane's `/v1/explain` (on the resources it serves that proxy, decoded by the sidecar's
 * decoders: control-plane/explain.ts).
 */
import { Readable } from 'node:stream';
import type { ResourceKind } from '../../common/xds-types.js';
import { HealthStatus } from '../../proto/gen/envoy/config/core/v3/health_check_pb.js';
import type { ClusterLoadAssignment } from '../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import type { HeldEndpoints } from '../xds/types/endpoint.js';
import type { HeldCluster } from '../xds/types/cluster.js';
import type { RouteConfiguration } from '../../proto/gen/envoy/config/route/v3/route_pb.js';
import { DISABLED, RequestInfo, type FilterSpec, type RequestHead } from '../http/filter.js';
import { requestHeaders } from '../http/headers.js';
import { routePerFilter } from '../http/filters/index.js';
import { normalizePath } from '../http/uri.js';
import { RETRY, RouteTable, rewritePath, type CompiledRoute } from '../routing/route-table.js';
import { policyFor } from '../upstream/lb/index.js';
import { h2KeepaliveOf } from '../xds/types/cluster.js';
import type { XdsConfig } from '../xds/ads-client.js';
import { DECODERS } from '../xds/types/index.js';
import { Problems } from '../xds/types/decoded.js';
import { TLS_MODE_KEY, TLS_MODE_MESH, upstreamTlsOf } from '../xds/types/tls.js';
import type { SidecarListener, XdsListener } from '../xds/types/listener.js';
import type { ActionView, ClusterView, EndpointView, ExplainRequest, FilterStep, HopExplanation } from './types.js';

export type { ActionView, ClusterView, EndpointView, ExplainRequest, FilterStep, HopExplanation } from './types.js';

export interface ExplainOptions {
  /** A cluster's hosts with live health (a running proxy); undefined: health as EDS sent it. */
  readonly hosts?: (cluster: string) => readonly EndpointView[] | undefined;
}

/** The resources of a snapshot decoded as the sidecar decodes them; resources that would be NACKed are listed. */
export function xdsConfigOf(resources: Iterable<{ kind: ResourceKind; name: string; body: Uint8Array }>): { config: XdsConfig; nacks: string[] } {
  const listeners = new Map<string, XdsListener>();
  const routes = new Map<string, RouteConfiguration>();
  const clusters = new Map<string, HeldCluster>();
  const endpoints = new Map<string, HeldEndpoints>();
  const nacks: string[] = [];
  for (const r of resources) {
    if (r.kind === 'secret') continue;
    const d = DECODERS[r.kind](r.body);
    if (d.errors.length || d.value === undefined) {
      nacks.push(...d.errors.map((e) => `${r.kind} ${r.name}: ${e.path}: ${e.message}`));
      continue;
    }
    const slot = { listener: listeners, route: routes, cluster: clusters, endpoint: endpoints }[r.kind] as Map<string, unknown>;
    slot.set(d.name, d.value);
  }
  return { config: { listeners, routes, clusters, endpoints, secrets: new Map(), versions: {} }, nacks };
}

/** The request as filters see it (RequestHead), built from an ExplainRequest. */
class ExplainHead implements RequestHead {
  readonly h2 = false;
  readonly upgrade: string | undefined;
  readonly hasBody = false;
  constructor(
    private readonly r: ExplainRequest,
    readonly path: string,
  ) {
    this.upgrade = r.headers.upgrade?.toLowerCase();
  }
  get grpc(): boolean {
    return (this.r.headers['content-type'] ?? '').startsWith('application/grpc');
  }
  get method(): string {
    return this.r.method;
  }
  get authority(): string {
    return this.r.authority;
  }
  get search(): string {
    return this.r.search;
  }
  get remoteAddress(): string {
    return this.r.remoteAddress ?? '127.0.0.1';
  }
  get principal(): string | undefined {
    return this.r.principal;
  }
  get secure(): boolean {
    return this.r.principal !== undefined;
  }
  get body(): Readable {
    return Readable.from([]);
  }
  header(name: string): string | undefined {
    if (name === ':method') return this.r.method;
    if (name === ':path') return this.path + this.r.search;
    if (name === ':authority' || name === 'host') return this.r.authority;
    if (name === ':scheme') return this.secure ? 'https' : 'http';
    return Object.hasOwn(this.r.headers, name) ? this.r.headers[name] : undefined;
  }
  rawPairs(): string[] {
    return Object.entries(this.r.headers).flat();
  }
}

/** A mistake in what was asked to explain (the admin APIs answer 400). */
export class ExplainInputError extends Error {}

/**
 * The request to explain from what an operator typed: a method, a URL (`http://orders/v1/items?x=1`
 * or `orders/v1/items`) and `name: value` headers. The path is kept as given (URL() would resolve
 * dot segments; the proxy's own normalization is what counts).
 */
export function explainRequestOf(method: string, url: string, headerLines: readonly string[], principal?: string): ExplainRequest {
  const m = method.toUpperCase();
  if (!/^[A-Z]{1,20}$/.test(m)) throw new ExplainInputError(`method: '${method.slice(0, 40)}' is not an HTTP method`);
  const full = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`;
  let u: URL;
  try {
    u = new URL(full);
  } catch {
    throw new ExplainInputError(`url: '${url.slice(0, 200)}' is not a URL (want e.g. http://orders/v1/items)`);
  }
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const h of headerLines) {
    const i = h.indexOf(':');
    if (i <= 0) throw new ExplainInputError(`header: want 'name: value', got ${JSON.stringify(h.slice(0, 100))}`);
    const n = h.slice(0, i).trim().toLowerCase();
    const v = h.slice(i + 1).trim();
    // Repeated headers are one list, as the proxy reads them.
    headers[n] = Object.hasOwn(headers, n) ? `${headers[n]}, ${v}` : v;
  }
  const path = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*([^?#]*)/i.exec(full)?.[1] || '/';
  // A Host header names the authority, as a client's would (curl -H 'host: ...').
  const authority = (Object.hasOwn(headers, 'host') ? headers.host! : u.host).toLowerCase();
  delete headers.host;
  return { method: m, authority, path, search: u.search, headers, ...(principal ? { principal } : {}) };
}

const RETRY_NAMES = Object.entries(RETRY) as Array<[string, number]>;

/** Explains one listener of a proxy's accepted config for `req`. */
export function explainListener(cfg: XdsConfig, listenerName: string, req: ExplainRequest, o: ExplainOptions = {}): HopExplanation {
  const base = { listener: listenerName, request: { method: req.method, authority: req.authority, path: req.path, search: req.search, ...(req.principal ? { principal: req.principal } : {}) }, otherVirtualHosts: [], routes: [], route: '', filters: [] };
  const l = cfg.listeners.get(listenerName);
  if (!l || l.kind !== 'http') return { ...base, stoppedBefore: `the proxy has no HTTP listener '${listenerName}'`, outcome: `no listener ${listenerName}` };
  const sl: SidecarListener = l;
  if (sl.edge) return { ...base, stoppedBefore: `${listenerName} is a gateway listener (its chain is chosen by SNI); gateways are not explained yet`, outcome: 'not explained (gateway listener)' };
  const rc = cfg.routes.get(sl.routeName);
  if (!rc) return { ...base, stoppedBefore: `route configuration ${sl.routeName} has not arrived`, outcome: '503 NOT_READY: no route configuration yet' };
  const np = normalizePath(req.path, sl.paths);
  if (typeof np !== 'string') {
    const why = np.kind === 'reject' ? `400 BAD_REQUEST: ${np.reason}` : `307 redirect to the normalized path ${np.path}`;
    return { ...base, stoppedBefore: `path normalization: ${why}`, outcome: why };
  }
  const head = new ExplainHead(req, np);
  const table = new RouteTable(rc, routePerFilter);
  const t = table.explain(req.authority, np, req.search, head);
  const route = t.route;
  const filters = sl.filters.map((s) => filterStep(s, route, head));
  // The chain runs before the router, route or not: the first filter that refuses answers.
  const refused = filters.find((f) => f.refuses !== undefined);
  const action = route && !refused ? actionOf(route, head, np, req, cfg, o) : undefined;
  let outcome: string;
  if (refused) outcome = `${refused.refuses} from ${refused.name}: ${refused.detail}`;
  else if (!t.virtualHost) outcome = `404 NO_ROUTE: no virtual host of ${rc.name} serves ${req.authority}`;
  else if (!route) outcome = `404 NO_ROUTE: no route of virtual host ${t.virtualHost.name} matches`;
  else if (action?.kind === 'forward') outcome = `route ${route.name} -> ${action.clusters.map((c) => (action.clusters.length > 1 ? `${c.name} (${c.percent}%)` : c.name)).join(', ')}`;
  else if (action?.kind === 'redirect') outcome = `route ${route.name}: ${action.status} redirect to ${action.location}`;
  else outcome = `route ${route.name}: answered ${action?.kind === 'direct' ? action.status : '?'} by the proxy`;
  return {
    ...base,
    request: { ...base.request, path: np },
    routeConfig: t.routeConfig,
    ...(t.virtualHost ? { virtualHost: t.virtualHost } : {}),
    otherVirtualHosts: t.otherVirtualHosts,
    routes: t.routes,
    route: route?.name ?? '',
    filters,
    ...(action ? { action } : {}),
    outcome,
    ...(refused ? { refusedBy: refused.name } : {}),
  };
}

function filterStep(s: FilterSpec, route: CompiledRoute | undefined, head: RequestHead): FilterStep {
  const override = route?.perFilter?.get(s.name);
  if (override === DISABLED) return { name: s.name, effect: 'skipped', detail: 'disabled for this route' };
  if (override === undefined && s.disabled) return { name: s.name, effect: 'skipped', detail: 'disabled unless a route turns it on' };
  const skipped = { name: s.name, effect: 'skipped', detail: "nothing to do here (not in this route's chain)" };
  if (!s.factory.explain) {
    // Whether it is in the chain is what its own create() says (undefined: left out), as when the chain is composed.
    let inChain = true;
    try {
      inChain = s.factory.create(s.config, override, { listener: 'explain' }) !== undefined;
    } catch {
      // A factory that needs more of the listener than explain has: it is in the chain.
    }
    return inChain ? { name: s.name, effect: 'applies', detail: `runs here${override !== undefined ? " with the route's own config" : ''} (no per-request decision shown)` } : skipped;
  }
  const v = s.factory.explain(s.config, override, head, route);
  return v ? { name: s.name, effect: v.effect, detail: v.detail, ...(v.refuses ? { refuses: v.refuses } : {}) } : skipped;
}

function actionOf(route: CompiledRoute, head: RequestHead, path: string, req: ExplainRequest, cfg: XdsConfig, o: ExplainOptions): ActionView {
  if (route.kind === 'direct') return { kind: 'direct', status: route.status, body: route.body.slice(0, 200) };
  if (route.kind === 'redirect') {
    const host = route.host ?? req.authority.replace(/:\d+$/, '');
    const port = route.port ? `:${route.port}` : '';
    const p = route.path ?? rewritePath(path, route);
    return { kind: 'redirect', status: route.status, location: `${route.scheme ?? 'http'}://${host}${port}${p}${route.stripQuery ? '' : req.search}` };
  }
  let shares: Array<[string, number]>;
  if (route.weighted) {
    const w = route.weighted;
    const total = w.cumulative[w.cumulative.length - 1]!;
    shares = w.names.map((n, i) => [n, Math.round((10_000 * (w.cumulative[i]! - (i ? w.cumulative[i - 1]! : 0))) / total) / 100]);
  } else shares = route.cluster ? [[route.cluster, 100]] : [];
  const r = route.retry;
  return {
    kind: 'forward',
    clusters: shares.map(([n, pct]) => clusterView(n, pct, cfg, o)),
    upstreamPath: rewritePath(path, route) + req.search,
    upstreamHeaders: headersOf(requestHeaders(head, new RequestInfo(), route.hostRewrite ?? req.authority, route.reqRemove, route.reqAdd, false)),
    ...(route.hostRewrite ? { hostRewrite: route.hostRewrite } : {}),
    timeoutMs: route.timeoutMs,
    ...(r && r.numRetries > 0 ? { retry: { attempts: r.numRetries + 1, on: RETRY_NAMES.filter(([, bit]) => r.on & bit).map(([n]) => n), statusCodes: [...r.codes], perTryTimeoutMs: r.perTryTimeoutMs, backoffMs: [r.baseMs, r.maxMs] as const } } : {}),
    hashPolicy: route.hash.map((h) => (h.kind === 'source-ip' ? 'source ip' : `${h.kind} ${h.name}`)),
    mirrors: (route.mirrors ?? []).map((m) => `${m.cluster} (${Math.round((10_000 * m.numerator) / m.scale) / 100}%)`),
  };
}

function clusterView(name: string, percent: number, cfg: XdsConfig, o: ExplainOptions): ClusterView {
  const c = cfg.clusters.get(name)?.cluster;
  if (!c) return { name, percent, known: false };
  const t = c.circuitBreakers?.thresholds[0];
  const tls = upstreamTlsOf(c, new Problems(name));
  const cla = c.loadAssignment ?? cfg.endpoints.get(c.edsClusterConfig?.serviceName || name)?.cla;
  const ka = h2KeepaliveOf(c);
  return {
    name,
    percent,
    known: true,
    lbPolicy: policyFor(c).name,
    connectTimeoutMs: c.connectTimeout ? Number(c.connectTimeout.seconds) * 1000 + Math.round(c.connectTimeout.nanos / 1e6) : 5000,
    endpoints: o.hosts?.(name) ?? (cla ? edsEndpoints(cla, tls === undefined ? 'none' : tls.allHosts ? 'all' : 'mesh') : []),
    tls: tls ? { sni: tls.sni, expectedIdentities: tls.sans, meshEndpointsOnly: !tls.allHosts } : 'plaintext',
    circuitBreakers: { maxConnections: t?.maxConnections ?? 1024, maxPending: t?.maxPendingRequests ?? 1024, maxRequests: t?.maxRequests ?? 1024, maxRetries: t?.maxRetries ?? 3 },
    outlierDetection: c.outlierDetection !== undefined,
    activeHealthCheck: c.healthChecks.length > 0,
    ...(ka ? { h2Keepalive: ka } : {}),
  };
}

/** Flat [name, value, ...] pairs as one record (repeated names joined by ', '). */
function headersOf(flat: readonly string[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 0; i < flat.length; i += 2) out[flat[i]!] = Object.hasOwn(out, flat[i]!) ? `${out[flat[i]!]}, ${flat[i + 1]}` : flat[i + 1]!;
  return out;
}

/** Endpoints as EDS sent them (what the control plane knows: no active checks or ejections). */
function edsEndpoints(cla: ClusterLoadAssignment, tls: 'none' | 'all' | 'mesh'): EndpointView[] {
  const out: EndpointView[] = [];
  for (const l of cla.endpoints) {
    for (const e of l.lbEndpoints) {
      if (e.hostIdentifier.case !== 'endpoint') continue;
      const sa = e.hostIdentifier.value.address?.address.case === 'socketAddress' ? e.hostIdentifier.value.address.address.value : undefined;
      if (!sa || sa.portSpecifier.case !== 'portValue') continue;
      const bad = e.healthStatus === HealthStatus.UNHEALTHY || e.healthStatus === HealthStatus.DRAINING || e.healthStatus === HealthStatus.TIMEOUT;
      const mesh = tls === 'all' || (tls === 'mesh' && (e.metadata?.filterMetadata['envoy.transport_socket_match'] as Record<string, unknown> | undefined)?.[TLS_MODE_KEY] === TLS_MODE_MESH);
      out.push({ address: `${sa.address}:${sa.portSpecifier.value}`, zone: l.locality?.zone ?? '', priority: l.priority, weight: e.loadBalancingWeight ?? 1, healthy: !bad, health: bad ? [`eds_${HealthStatus[e.healthStatus]!.toLowerCase()}`] : [], mtls: mesh });
    }
  }
  return out;
}
