/**
 * Gateway (gateway.networking.k8s.io/v1, namespaced): the listeners a `weft gateway` process
 * serves at the edge. HTTPRoutes and GRPCRoutes attach to its listeners through parentRefs; the
 * attachment rules (sectionName, port, allowedRoutes, hostname intersection) live here so that
 * validation and translation apply the very same ones. Plain HTTP only for now.
 */
import type { GatewayListener, GatewayParentRef, GatewayResource, GatewaySpec } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_GATEWAY } from '../api-versions.js';
import type { KindDefinition } from './kind.js';
import { HOSTNAME } from '../schema.js';

/** The only gatewayClassName Weft implements. */
export const GATEWAY_CLASS = 'weft';

/** Gateway API protocols Weft does not serve yet: refused with a reason rather than accepted and ignored. */
const LATER_PROTOCOLS = ['HTTPS', 'TLS', 'TCP', 'UDP'];

const IPV4 = /^\d+(\.\d+){3}$/;

function readListener(r: Reader, x: unknown, p: string): GatewayListener | undefined {
  const o = r.obj(x, p, ['name', 'port', 'protocol', 'hostname', 'allowedRoutes'], ['name', 'port', 'protocol']);
  if (!o) return undefined;
  const name = r.dnsLabel(o.name, `${p}.name`, false);
  const port = r.int(o.port, `${p}.port`, 1, 65535);
  let protocol: 'HTTP' | undefined;
  if (typeof o.protocol === 'string' && LATER_PROTOCOLS.includes(o.protocol)) {
    r.err(`${p}.protocol`, `${o.protocol} is not supported yet: TLS termination and TCP come in later Weft versions (use HTTP)`);
  } else if (o.protocol !== undefined && o.protocol !== null) {
    protocol = r.str(o.protocol, `${p}.protocol`, { oneOf: ['HTTP'] }) as 'HTTP' | undefined;
  }
  const hostname = r.str(o.hostname, `${p}.hostname`, { pattern: HOSTNAME, patternHelp: 'a host name, optionally *.-prefixed' });
  if (hostname !== undefined && IPV4.test(hostname)) r.err(`${p}.hostname`, `'${hostname}' is an IP address; a listener hostname is a DNS name (leave it out to take any host)`);
  let from: 'Same' | 'All' = 'Same';
  const ar = r.obj(o.allowedRoutes, `${p}.allowedRoutes`, ['namespaces']);
  const ns = ar && r.obj(ar.namespaces, `${p}.allowedRoutes.namespaces`, ['from']);
  if (ns && ns.from === 'Selector') r.err(`${p}.allowedRoutes.namespaces.from`, 'Selector is not supported yet: use Same or All');
  else if (ns) from = (r.str(ns.from, `${p}.allowedRoutes.namespaces.from`, { oneOf: ['Same', 'All'] }) as 'Same' | 'All' | undefined) ?? 'Same';
  if (name === undefined || port === undefined || protocol === undefined) return undefined;
  const l: GatewayListener = { name, port, protocol, allowedRoutes: { namespaces: { from } } };
  if (hostname !== undefined && !IPV4.test(hostname)) l.hostname = hostname;
  return l;
}

export function readGateway(r: Reader, v: unknown): GatewaySpec | undefined {
  const o = r.obj(v, 'spec', ['gatewayClassName', 'listeners'], ['gatewayClassName', 'listeners']);
  if (!o) return undefined;
  const cls = r.str(o.gatewayClassName, 'spec.gatewayClassName', { oneOf: [GATEWAY_CLASS] });
  // Names select listeners (sectionName); port + hostname select them for requests.
  const byName = new Map<string, number>();
  const byAddress = new Map<string, number>();
  let i = -1;
  const listeners = r.arr(o.listeners, 'spec.listeners', (x, p) => {
    i++;
    const l = readListener(r, x, p);
    if (!l) return undefined;
    const other = byName.get(l.name);
    if (other !== undefined) r.err(`${p}.name`, `'${l.name}' is also the name of spec.listeners[${other}]; listener names are unique`);
    else byName.set(l.name, i);
    // One listener per port for now: the data plane binds each listener on its own socket.
    // Listeners sharing a port by hostname (the Gateway API allows it) need one socket serving
    // several route tables, which comes with TLS termination (SNI).
    const address = String(l.port);
    const same = byAddress.get(address);
    if (same !== undefined) r.err(`${p}.port`, `spec.listeners[${same}] also takes port ${l.port}; one listener per port is supported in this version`);
    else byAddress.set(address, i);
    return l;
  }, { nonEmpty: true, max: 64 });
  return cls === undefined ? undefined : { gatewayClassName: GATEWAY_CLASS, listeners };
}

// ------------------------------------------------------------------------------------ attachment

/** Does the wildcard `w` (`*.suffix`) cover `h` (a host, or a narrower wildcard)? */
function covers(w: string, h: string): boolean {
  return w.startsWith('*.') && h.length > w.length - 1 && h.endsWith(w.slice(1));
}

/**
 * The host names a route serves on a listener (Gateway API hostname intersection): the route's
 * hostnames narrowed to the listener's; the listener's when the route names none; `*` when
 * neither does. Empty: they do not intersect (the route does not attach there).
 */
export function listenerHostnames(routeHostnames: readonly string[], listenerHostname: string | undefined): string[] {
  if (routeHostnames.length === 0) return [listenerHostname ?? '*'];
  if (listenerHostname === undefined) return [...new Set(routeHostnames)];
  const out = new Set<string>();
  for (const h of routeHostnames) {
    if (h === listenerHostname || covers(listenerHostname, h)) out.add(h);
    else if (covers(h, listenerHostname)) out.add(listenerHostname);
  }
  return [...out];
}

/** Does host name `e` (as served by a route: precise, wildcard or `*`) take requests for virtual host `h`? */
export function hostnameCovers(e: string, h: string): boolean {
  return e === '*' || e === h || covers(e, h);
}

/** Does `p` select listener `l` (no sectionName or its name; no port or its port)? */
export function selectsListener(p: GatewayParentRef, l: GatewayListener): boolean {
  return (p.sectionName === undefined || p.sectionName === l.name) && (p.port === undefined || p.port === l.port);
}

/** Does listener `l` of Gateway `gw` admit routes from `namespace` (allowedRoutes)? */
export function admitsNamespace(gw: GatewayResource, l: GatewayListener, namespace: string): boolean {
  return l.allowedRoutes.namespaces.from === 'All' || gw.metadata.namespace === namespace;
}

/** What attaching needs to know of a route. */
interface AttachingRoute {
  metadata: { namespace: string };
  spec: { parentRefs: readonly { kind: string }[]; hostnames: readonly string[] };
}

/**
 * The host names under which `route` serves listener `l` of `gw`, or undefined when it is not
 * attached there: one of its parentRefs names the Gateway and selects the listener, the listener
 * admits the route's namespace, and their hostnames intersect.
 */
export function attachedHostnames(route: AttachingRoute, gw: GatewayResource, l: GatewayListener): string[] | undefined {
  const { name, namespace } = gw.metadata;
  const named = (route.spec.parentRefs as readonly GatewayParentRef[]).some((p) => p.kind === 'Gateway' && p.name === name && p.namespace === namespace && selectsListener(p, l));
  if (!named || !admitsNamespace(gw, l, route.metadata.namespace)) return undefined;
  const hosts = listenerHostnames(route.spec.hostnames, l.hostname);
  return hosts.length ? hosts : undefined;
}

const describeListener = (l: GatewayListener) => `${l.name} ${l.protocol}:${l.port}${l.hostname ? ` ${l.hostname}` : ''}`;

export const gatewayKind: KindDefinition<'Gateway'> = {
  kind: 'Gateway',
  apiVersions: [API_VERSION_GATEWAY, 'gateway.networking.k8s.io/v1beta1'],
  plural: 'gateways',
  shortNames: ['gtw'],
  read: (r, spec) => readGateway(r, spec),
  addToModel: (b, res) => void b.gateways.set(`Gateway/${res.metadata.namespace}/${res.metadata.name}`, res),
  summary: (res) => `listeners ${res.spec.listeners.map(describeListener).join(', ')}`,
};
