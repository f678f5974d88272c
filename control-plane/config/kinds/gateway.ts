/**
 * Gateway (gateway.networking.k8s.io/v1, namespaced): the listeners a `weft gateway` process
 * serves at the edge. HTTPRoutes and GRPCRoutes attach to its listeners through parentRefs; the
 * attachment rules (sectionName, port, allowedRoutes, hostname intersection) live here so that
 * validation and translation apply the very same ones. HTTP and HTTPS (TLS terminated with the
 * certificates of Secrets its listeners name); several HTTPS listeners may share a port, told
 * apart by SNI (their hostnames). Layer 4: TCP (TCPRoutes, one listener per port) and TLS with
 * tls.mode Passthrough (TLSRoutes chosen by SNI; never decrypted; several may share a port as
 * HTTPS listeners do).
 */
import type { GatewayListener, GatewayParentRef, GatewayResource, GatewaySpec, GatewayStatus, MeshModel } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_GATEWAY } from '../api-versions.js';
import type { KindDefinition } from './kind.js';
import { HOSTNAME } from '../schema.js';
import { describeCertificate } from './secret.js';

/** The only gatewayClassName Weft implements. */
export const GATEWAY_CLASS = 'weft';

/** Gateway API protocols Weft does not serve yet: refused with a reason rather than accepted and ignored. */
const LATER_PROTOCOLS = ['UDP'];

/** At most this many certificates per listener (Node serves one per key type; more are a mistake). */
const MAX_CERTS = 4;

type Protocol = GatewayListener['protocol'];

/** Layer-4 listeners (tcp_proxy, no HTTP): TCP, and TLS passed through by SNI. */
export function isL4Listener(l: { protocol: Protocol }): boolean {
  return l.protocol === 'TCP' || l.protocol === 'TLS';
}

/** The route kinds that attach to a listener of each protocol (Gateway API: the listener's supportedKinds). */
const ROUTE_KINDS: Record<Protocol, readonly string[]> = { HTTP: ['HTTPRoute', 'GRPCRoute'], HTTPS: ['HTTPRoute', 'GRPCRoute'], TCP: ['TCPRoute'], TLS: ['TLSRoute'] };

/** Does a route of `kind` attach to listeners of `protocol`? */
export function routeKindFits(kind: string, protocol: Protocol): boolean {
  return ROUTE_KINDS[protocol].includes(kind);
}

/** The listener protocols a route of `kind` attaches to, for messages. */
export function protocolsFor(kind: string): string {
  return (Object.keys(ROUTE_KINDS) as Protocol[]).filter((p) => routeKindFits(kind, p)).join(' or ');
}

function readTls(r: Reader, v: unknown, p: string, protocol: Protocol | undefined): GatewayListener['tls'] {
  if (protocol === 'HTTP' || protocol === 'TCP') {
    if (v !== undefined && v !== null) r.err(p, protocol === 'HTTP' ? 'an HTTP listener has no TLS settings (use protocol: HTTPS)' : 'a TCP listener has no TLS settings (use protocol: TLS with tls.mode Passthrough to route TLS by SNI)');
    return undefined;
  }
  if (protocol !== 'HTTPS' && protocol !== 'TLS') return undefined;
  const o = r.obj(v, p, ['mode', 'certificateRefs', 'options'], []);
  if (!o) {
    if (v === undefined || v === null) r.err(p, protocol === 'HTTPS' ? 'an HTTPS listener needs tls.certificateRefs (the Secrets holding its certificates)' : 'a TLS listener needs tls.mode: Passthrough (Weft passes TLS through by SNI; to terminate TLS use protocol: HTTPS)');
    return undefined;
  }
  if (o.options !== undefined) r.err(`${p}.options`, 'no implementation-specific TLS options are supported');
  if (protocol === 'TLS') {
    // Gateway API's default mode is Terminate; a TLS listener here only passes TLS through, so the mode is said.
    if (o.mode === undefined || o.mode === null) r.err(`${p}.mode`, 'is required: Passthrough (Weft passes TLS through by SNI; to terminate TLS use protocol: HTTPS)');
    else if (o.mode === 'Terminate') r.err(`${p}.mode`, 'Terminate is not supported on a TLS listener: use protocol: HTTPS to terminate TLS, or mode Passthrough');
    else r.str(o.mode, `${p}.mode`, { oneOf: ['Passthrough'] });
    if (o.certificateRefs !== undefined) r.err(`${p}.certificateRefs`, 'a Passthrough listener never decrypts: the backend serves its own certificate');
    return o.mode === 'Passthrough' && o.options === undefined && o.certificateRefs === undefined ? { mode: 'Passthrough' } : undefined;
  }
  if (o.mode === 'Passthrough') r.err(`${p}.mode`, 'Passthrough needs protocol: TLS (an HTTPS listener terminates TLS); use Terminate');
  else r.str(o.mode, `${p}.mode`, { oneOf: ['Terminate'] });
  const refs = r.arr(o.certificateRefs, `${p}.certificateRefs`, (x, q) => {
    const c = r.obj(x, q, ['group', 'kind', 'name', 'namespace'], ['name']);
    if (!c) return undefined;
    r.str(c.group, `${q}.group`, { oneOf: ['', 'core'] });
    r.str(c.kind, `${q}.kind`, { oneOf: ['Secret'] });
    if (c.namespace !== undefined) r.err(`${q}.namespace`, 'certificates come from Secrets in the Gateway\'s own namespace (cross-namespace references need a ReferenceGrant, which Weft does not implement)');
    const name = r.dnsLabel(c.name, `${q}.name`, false);
    return name ? { name } : undefined;
  }, { nonEmpty: true, max: MAX_CERTS });
  return { mode: 'Terminate', certificateRefs: refs };
}

const IPV4 = /^\d+(\.\d+){3}$/;

function readListener(r: Reader, x: unknown, p: string): GatewayListener | undefined {
  const o = r.obj(x, p, ['name', 'port', 'protocol', 'hostname', 'allowedRoutes', 'tls'], ['name', 'port', 'protocol']);
  if (!o) return undefined;
  const name = r.dnsLabel(o.name, `${p}.name`, false);
  const port = r.int(o.port, `${p}.port`, 1, 65535);
  let protocol: Protocol | undefined;
  if (typeof o.protocol === 'string' && LATER_PROTOCOLS.includes(o.protocol)) {
    r.err(`${p}.protocol`, `${o.protocol} is not supported yet: UDP listeners come in a later Weft version (use HTTP, HTTPS, TCP or TLS)`);
  } else if (o.protocol !== undefined && o.protocol !== null) {
    protocol = r.str(o.protocol, `${p}.protocol`, { oneOf: ['HTTP', 'HTTPS', 'TCP', 'TLS'] }) as Protocol | undefined;
  }
  const tls = readTls(r, o.tls, `${p}.tls`, protocol);
  const hostname = r.str(o.hostname, `${p}.hostname`, { pattern: HOSTNAME, patternHelp: 'a host name, optionally *.-prefixed' });
  if (hostname !== undefined && IPV4.test(hostname)) r.err(`${p}.hostname`, `'${hostname}' is an IP address; a listener hostname is a DNS name (leave it out to take any host)`);
  // A TCP connection carries no host name at all (no Host header, no SNI is read).
  if (hostname !== undefined && protocol === 'TCP') r.err(`${p}.hostname`, 'a TCP listener takes every connection to its port: it has no hostname (use protocol: TLS to route by SNI)');
  let from: 'Same' | 'All' = 'Same';
  const ar = r.obj(o.allowedRoutes, `${p}.allowedRoutes`, ['namespaces']);
  const ns = ar && r.obj(ar.namespaces, `${p}.allowedRoutes.namespaces`, ['from']);
  if (ns && ns.from === 'Selector') r.err(`${p}.allowedRoutes.namespaces.from`, 'Selector is not supported yet: use Same or All');
  else if (ns) from = (r.str(ns.from, `${p}.allowedRoutes.namespaces.from`, { oneOf: ['Same', 'All'] }) as 'Same' | 'All' | undefined) ?? 'Same';
  if (name === undefined || port === undefined || protocol === undefined) return undefined;
  if ((protocol === 'HTTPS' || protocol === 'TLS') && !tls) return undefined;
  if (protocol === 'TCP' && hostname !== undefined) return undefined;
  const l: GatewayListener = { name, port, protocol, allowedRoutes: { namespaces: { from } } };
  if (hostname !== undefined && !IPV4.test(hostname)) l.hostname = hostname;
  if (tls) l.tls = tls;
  return l;
}

export function readGateway(r: Reader, v: unknown): GatewaySpec | undefined {
  const o = r.obj(v, 'spec', ['gatewayClassName', 'listeners'], ['gatewayClassName', 'listeners']);
  if (!o) return undefined;
  const cls = r.str(o.gatewayClassName, 'spec.gatewayClassName', { oneOf: [GATEWAY_CLASS] });
  // Names select listeners (sectionName); port + hostname select them for requests.
  const byName = new Map<string, number>();
  // port -> the listeners on it so far (index, protocol, hostname).
  const byPort = new Map<number, Array<{ i: number; protocol: string; hostname: string | undefined }>>();
  let i = -1;
  const listeners = r.arr(o.listeners, 'spec.listeners', (x, p) => {
    i++;
    const l = readListener(r, x, p);
    if (!l) return undefined;
    const other = byName.get(l.name);
    if (other !== undefined) r.err(`${p}.name`, `'${l.name}' is also the name of spec.listeners[${other}]; listener names are unique`);
    else byName.set(l.name, i);
    // HTTPS listeners may share a port, and so may TLS (passthrough) listeners: SNI picks one by
    // hostname (distinct hostnames, at most one without, which takes the connections no other's
    // hostname matches). HTTP and TCP listeners cannot be told apart before the request (TCP:
    // ever), so one per port; listeners of different protocols never share a port (a port's
    // connections are either terminated or passed through).
    const same = byPort.get(l.port) ?? [];
    const clash = same.find((o) => o.protocol !== l.protocol || l.protocol === 'HTTP' || l.protocol === 'TCP' || o.hostname === l.hostname);
    if (clash) {
      const why = clash.protocol !== l.protocol
        ? `is ${clash.protocol}; ${clash.protocol} and ${l.protocol} listeners cannot share a port`
        : l.protocol === 'HTTP' ? 'is HTTP too; HTTP listeners cannot share a port (give each its own, or put the hostnames in one listener\'s routes)'
        : l.protocol === 'TCP' ? 'is TCP too; a TCP listener takes every connection to its port, so it has the port alone'
        : `has the same hostname (${l.hostname ?? 'none'}); ${l.protocol} listeners sharing a port need distinct hostnames (SNI picks one)`;
      r.err(`${p}.port`, `spec.listeners[${clash.i}] also takes port ${l.port} and ${why}`);
    } else {
      same.push({ i, protocol: l.protocol, hostname: l.hostname });
      byPort.set(l.port, same);
    }
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
  kind: string;
  metadata: { namespace: string };
  spec: { parentRefs: readonly { kind: string }[]; hostnames?: readonly string[] };
}

/**
 * The host names under which `route` serves listener `l` of `gw`, or undefined when it is not
 * attached there: one of its parentRefs names the Gateway and selects the listener, the listener
 * admits the route's namespace, and their hostnames intersect.
 */
export function attachedHostnames(route: AttachingRoute, gw: GatewayResource, l: GatewayListener): string[] | undefined {
  const { name, namespace } = gw.metadata;
  // A route attaches only to listeners of its kind's protocols (an HTTPRoute never to a TCP listener).
  if (!routeKindFits(route.kind, l.protocol)) return undefined;
  const named = (route.spec.parentRefs as readonly GatewayParentRef[]).some((p) => p.kind === 'Gateway' && p.name === name && p.namespace === namespace && selectsListener(p, l));
  if (!named || !admitsNamespace(gw, l, route.metadata.namespace)) return undefined;
  const hosts = listenerHostnames(route.spec.hostnames ?? [], l.hostname);
  return hosts.length ? hosts : undefined;
}

/** Each HTTPS listener's certificates: names and expiry, read from the Secrets it names. */
export function gatewayStatus(gw: GatewayResource, model: MeshModel, now = Date.now()): GatewayStatus {
  return {
    listeners: gw.spec.listeners.map((l) => ({
      name: l.name,
      certificates: (l.tls?.mode === 'Terminate' ? l.tls.certificateRefs : []).flatMap((c) => {
        const s = model.secrets.get(`Secret/${gw.metadata.namespace}/${c.name}`);
        const info = s && describeCertificate(s.spec.certificatePem, now);
        return info ? [{ secret: c.name, ...info }] : [];
      }),
    })),
  };
}

function describeListener(l: GatewayListener, status: GatewayStatus | undefined): string {
  const certs = status?.listeners.find((x) => x.name === l.name)?.certificates ?? [];
  const tls = certs.map((c) => ` [${c.secret}: ${c.names.join(' ')} expires ${c.notAfter.slice(0, 10)}${c.daysLeft < 0 ? ' EXPIRED' : c.daysLeft < 30 ? ` in ${c.daysLeft} days` : ''}]`).join('');
  return `${l.name} ${l.protocol}:${l.port}${l.hostname ? ` ${l.hostname}` : ''}${l.tls?.mode === 'Passthrough' ? ' passthrough' : ''}${tls}`;
}

export const gatewayKind: KindDefinition<'Gateway'> = {
  kind: 'Gateway',
  apiVersions: [API_VERSION_GATEWAY, 'gateway.networking.k8s.io/v1beta1'],
  plural: 'gateways',
  shortNames: ['gtw'],
  read: (r, spec) => readGateway(r, spec),
  addToModel: (b, res) => void b.gateways.set(`Gateway/${res.metadata.namespace}/${res.metadata.name}`, res),
  references(res, ctx) {
    res.spec.listeners.forEach((l, i) =>
      l.tls?.certificateRefs?.forEach((c, j) => {
        if (!ctx.model.secrets.has(`Secret/${res.metadata.namespace}/${c.name}`)) ctx.err(`spec.listeners[${i}].tls.certificateRefs[${j}].name`, `Secret ${res.metadata.namespace}/${c.name} does not exist (create it with \`weft create secret tls ${c.name} --cert FILE --key FILE\`)`);
      }),
    );
  },
  status: (res, model) => gatewayStatus(res, model),
  summary: (res) => `listeners ${res.spec.listeners.map((l) => describeListener(l, res.status)).join(', ')}`,
};
