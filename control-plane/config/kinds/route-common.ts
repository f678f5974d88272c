/**
 * Parts the route kinds share: parentRefs, backendRefs, header matches and filters, retry
 * (HTTPRoute, GRPCRoute), and the rules and references of the layer-4 routes (TCPRoute, TLSRoute).
 */
import type { BackendRef, ExtensionRef, ExtensionRefKind, GRPCRouteResource, GatewayParentRef, HTTPRouteResource, HeaderMatch, HeaderModifier, L4RouteRule, ParentRef, RequestMirror, RetryPolicy, RouteTimeouts, TCPRouteResource, TLSRouteResource } from '../types.js';
import type { Reader } from '../schema.js';
import type { ReferenceContext } from './kind.js';
import { GATEWAY_GROUP } from '../api-versions.js';
import { admitsNamespace, attachedHostnames, listenerHostnames, protocolsFor, routeKindFits, selectsListener } from './gateway.js';
import { isTcpService, soleTcpPort } from './service.js';
import { EXTENSION_REF_KIND_NAMES, GATEWAY_ONLY_EXTENSION_REF_KINDS, extensionTarget } from './policy-attachment.js';

export const RETRY_ON = [
  '5xx', 'gateway-error', 'reset', 'connect-failure', 'retriable-4xx', 'refused-stream', 'retriable-status-codes',
  'cancelled', 'deadline-exceeded', 'unavailable', 'resource-exhausted', 'internal',
  // Weft: also retry non-idempotent requests (POST, PATCH) after the upstream may have seen them.
  'non-idempotent',
] as const;

/**
 * parentRefs: Services (GAMMA mesh routes; kind defaults to Service) and Gateways (edge routes:
 * group gateway.networking.k8s.io, the default for kind Gateway; sectionName picks a listener).
 */
export function readParentRefs(r: Reader, v: unknown, path: string, ns: string): ParentRef[] {
  return readParents(r, v, path, ns, false);
}

/**
 * parentRefs of a TCPRoute or TLSRoute: Gateways only (kind defaults to Gateway, as in the
 * Gateway API): in the mesh a TCP connection's destination is fixed by its local port (Service
 * spec.upstreams), there is nothing for a route to choose.
 */
export function readGatewayParentRefs(r: Reader, v: unknown, path: string, ns: string, kind: 'TCPRoute' | 'TLSRoute'): GatewayParentRef[] {
  return readParents(r, v, path, ns, kind) as GatewayParentRef[];
}

function readParents(r: Reader, v: unknown, path: string, ns: string, gatewayOnly: false | 'TCPRoute' | 'TLSRoute'): ParentRef[] {
  return r.arr(v, path, (x, p): ParentRef | undefined => {
    const o = r.obj(x, p, ['group', 'kind', 'name', 'namespace', 'sectionName', 'port'], ['name']);
    if (!o) return undefined;
    if (gatewayOnly && o.kind === 'Service') {
      r.err(`${p}.kind`, `a ${gatewayOnly} attaches to Gateway listeners only; mesh callers reach a TCP service through a local port (Service spec.upstreams)`);
      return undefined;
    }
    const kind = o.kind === undefined || o.kind === null ? (gatewayOnly ? 'Gateway' : 'Service') : (r.str(o.kind, `${p}.kind`, { oneOf: gatewayOnly ? ['Gateway'] : ['Service', 'Gateway'] }) as ParentRef['kind'] | undefined);
    if (kind === undefined) return undefined;
    r.str(o.group, `${p}.group`, { oneOf: kind === 'Gateway' ? [GATEWAY_GROUP] : ['', 'core'] });
    const name = r.dnsLabel(o.name, `${p}.name`, false);
    const namespace = o.namespace === undefined ? ns : r.dnsLabel(o.namespace, `${p}.namespace`);
    const port = r.int(o.port, `${p}.port`, 1, 65535);
    if (kind === 'Service') {
      if (o.sectionName !== undefined) r.err(`${p}.sectionName`, 'names a Gateway listener; a Service parent selects a port with port');
      if (!name || !namespace) return undefined;
      return port === undefined ? { kind, name, namespace } : { kind, name, namespace, port };
    }
    const sectionName = o.sectionName === undefined ? undefined : r.dnsLabel(o.sectionName, `${p}.sectionName`);
    if (!name || !namespace) return undefined;
    return { kind, name, namespace, ...(sectionName !== undefined ? { sectionName } : {}), ...(port !== undefined ? { port } : {}) };
  }, { nonEmpty: true });
}

export function readBackendRef(r: Reader, x: unknown, p: string, ns: string, withWeight = true): BackendRef | undefined {
  const o = r.obj(x, p, withWeight ? ['group', 'kind', 'name', 'namespace', 'port', 'weight', 'subset'] : ['group', 'kind', 'name', 'namespace', 'port', 'subset'], ['name']);
  if (!o) return undefined;
  r.str(o.group, `${p}.group`, { oneOf: ['', 'core'] });
  r.str(o.kind, `${p}.kind`, { oneOf: ['Service'] });
  const name = r.dnsLabel(o.name, `${p}.name`);
  const namespace = o.namespace === undefined ? ns : r.dnsLabel(o.namespace, `${p}.namespace`);
  const port = r.int(o.port, `${p}.port`, 1, 65535);
  const weight = withWeight ? (r.int(o.weight, `${p}.weight`, 0, 1_000_000) ?? 1) : 1;
  const subset = o.subset === undefined ? undefined : r.dnsLabel(o.subset, `${p}.subset`);
  if (!name || !namespace) return undefined;
  const b: BackendRef = { name, namespace, weight };
  if (port !== undefined) b.port = port;
  if (subset !== undefined) b.subset = subset;
  return b;
}

export function readHeaderMatches(r: Reader, v: unknown, path: string, what: 'header' | 'query'): HeaderMatch[] {
  return r.arr(v, path, (x, p) => {
    const o = r.obj(x, p, ['type', 'name', 'value'], ['name', 'value']);
    if (!o) return undefined;
    const type = (r.str(o.type, `${p}.type`, { oneOf: ['Exact', 'RegularExpression'] }) ?? 'Exact') as HeaderMatch['type'];
    const name = what === 'header' ? r.headerName(o.name, `${p}.name`) : r.str(o.name, `${p}.name`, { required: true });
    const value = type === 'RegularExpression' ? r.regex(o.value, `${p}.value`) : r.str(o.value, `${p}.value`, { required: true });
    return name !== undefined && value !== undefined ? { type, name, value } : undefined;
  });
}

export function readHeaderModifier(r: Reader, v: unknown, p: string): HeaderModifier {
  const o = r.obj(v, p, ['set', 'add', 'remove'], []) ?? {};
  const hv = (x: unknown, q: string) => {
    const h = r.obj(x, q, ['name', 'value'], ['name', 'value']);
    const name = h && r.headerName(h.name, `${q}.name`);
    const value = h && r.headerValue(h.value, `${q}.value`);
    return name !== undefined && value !== undefined ? { name, value } : undefined;
  };
  return {
    set: r.arr(o.set, `${p}.set`, hv),
    add: r.arr(o.add, `${p}.add`, hv),
    remove: r.arr(o.remove, `${p}.remove`, (x, q) => r.headerName(x, q)),
  };
}

/** A route hostname (Gateway API): a lowercase DNS name, optionally a `*.` wildcard of one. */
export { HOSTNAME } from '../schema.js';

/**
 * Gateway API HTTPRequestMirrorFilter: a backendRef, and the share of requests mirrored as
 * `percent` (0..100) or `fraction` (numerator over denominator, default 100), not both; all of
 * them when neither is set.
 */
export function readMirror(r: Reader, v: unknown, p: string, ns: string): RequestMirror | undefined {
  const o = r.obj(v, p, ['backendRef', 'percent', 'fraction'], ['backendRef']);
  if (!o) return undefined;
  const backendRef = readBackendRef(r, o.backendRef, `${p}.backendRef`, ns, false);
  let fraction = { numerator: 100, denominator: 100 };
  if (o.percent !== undefined && o.fraction !== undefined) r.err(p, 'set percent or fraction, not both');
  else if (o.percent !== undefined) {
    const percent = r.int(o.percent, `${p}.percent`, 0, 100);
    if (percent !== undefined) fraction = { numerator: percent, denominator: 100 };
  } else if (o.fraction !== undefined) {
    const f = r.obj(o.fraction, `${p}.fraction`, ['numerator', 'denominator'], ['numerator']);
    const numerator = f && r.int(f.numerator, `${p}.fraction.numerator`, 0, 2_147_483_647);
    const denominator = f ? (r.int(f.denominator, `${p}.fraction.denominator`, 1, 2_147_483_647) ?? 100) : 100;
    if (numerator !== undefined && numerator > denominator) r.err(`${p}.fraction.numerator`, `must not exceed the denominator (${denominator})`);
    else if (numerator !== undefined) fraction = { numerator, denominator };
  }
  return backendRef ? { backendRef, fraction } : undefined;
}

/** Gateway API ExtensionRef (a LocalObjectReference): group weft.dev, one of Weft's policy kinds (policy-attachment.ts). */
export function readExtensionRef(r: Reader, v: unknown, p: string): ExtensionRef | undefined {
  const o = r.obj(v, p, ['group', 'kind', 'name'], ['group', 'kind', 'name']);
  if (!o) return undefined;
  const group = r.str(o.group, `${p}.group`, { oneOf: ['weft.dev'] });
  const kind = r.str(o.kind, `${p}.kind`, { oneOf: EXTENSION_REF_KIND_NAMES }) as ExtensionRefKind | undefined;
  const name = r.dnsLabel(o.name, `${p}.name`, false); // absent: already reported by obj()
  return group && kind && name ? { group: 'weft.dev', kind, name } : undefined;
}

/** Rule-level checks of a route's filters: at most one policy of each kind per rule (one filter config per Envoy route). */
export function checkRuleFilters(r: Reader, filters: ReadonlyArray<{ type: string; extensionRef?: ExtensionRef }>, p: string): void {
  const seen = new Set<string>();
  // CORS (Gateway API) and an ExtensionRef to a CorsPolicy configure the same thing: one per rule.
  const cors = filters.flatMap((f, i) => (f.type === 'CORS' || (f.type === 'ExtensionRef' && f.extensionRef?.kind === 'CorsPolicy') ? [i] : []));
  if (cors.length > 1) r.err(`${p}[${cors[1]}]`, `a rule may have one CORS configuration (a CORS filter or an ExtensionRef to a CorsPolicy); ${p}[${cors[0]}] is the first`);
  filters.forEach((f, i) => {
    if (f.type !== 'ExtensionRef' || !f.extensionRef) return;
    const k = f.extensionRef.kind;
    if (seen.has(k)) r.err(`${p}[${i}]`, `a rule may reference one ${k} (this is the second)`);
    seen.add(k);
  });
}

export function readTimeouts(r: Reader, v: unknown, p: string): RouteTimeouts | undefined {
  const o = r.obj(v, p, ['request', 'backendRequest']);
  if (!o) return undefined;
  const t: RouteTimeouts = {};
  const request = r.duration(o.request, `${p}.request`);
  const backendRequest = r.duration(o.backendRequest, `${p}.backendRequest`);
  if (request !== undefined) t.request = request;
  if (backendRequest !== undefined) t.backendRequest = backendRequest;
  if (request && backendRequest && backendRequest > request) r.err(`${p}.backendRequest`, `must not exceed timeouts.request (${o.request})`);
  return t;
}

export function readRetry(r: Reader, v: unknown, p: string, extra: readonly string[] = []): (RetryPolicy & { _o: Record<string, unknown> }) | undefined {
  const o = r.obj(v, p, ['attempts', 'retryOn', 'codes', 'perTryTimeout', 'backoff', ...extra]);
  if (!o) return undefined;
  const attempts = r.int(o.attempts, `${p}.attempts`, 1, 10) ?? 2;
  const retryOn = r.arr(o.retryOn, `${p}.retryOn`, (x, q) => r.str(x, q, { oneOf: RETRY_ON }));
  const codes = r.arr(o.codes, `${p}.codes`, (x, q) => r.int(x, q, 100, 599));
  const perTry = r.duration(o.perTryTimeout, `${p}.perTryTimeout`, { min: 1 });
  const bo = r.obj(o.backoff, `${p}.backoff`, ['baseInterval', 'maxInterval'], ['baseInterval']);
  const policy: RetryPolicy & { _o: Record<string, unknown> } = {
    attempts,
    retryOn: retryOn.length ? retryOn : codes.length ? ['retriable-status-codes'] : ['5xx', 'connect-failure', 'reset'],
    codes,
    _o: o,
  };
  if (codes.length && !policy.retryOn.includes('retriable-status-codes')) policy.retryOn.push('retriable-status-codes');
  if (perTry !== undefined) policy.perTryTimeoutMs = perTry;
  if (bo) {
    const base = r.duration(bo.baseInterval, `${p}.backoff.baseInterval`, { required: true, min: 1 }) ?? 25;
    const max = r.duration(bo.maxInterval, `${p}.backoff.maxInterval`, { min: 1 }) ?? base * 10;
    if (max < base) r.err(`${p}.backoff.maxInterval`, 'must not be less than baseInterval');
    policy.backoff = { baseIntervalMs: base, maxIntervalMs: max };
  }
  return policy;
}

/** Strips the reader's scratch field. */
export function cleanRetry(p: (RetryPolicy & { _o?: unknown }) | undefined): RetryPolicy | undefined {
  if (!p) return undefined;
  const { _o, ...rest } = p;
  void _o;
  return rest;
}

/** The references an HTTPRoute or GRPCRoute makes: hostnames, parents, backends, filter targets. */
export function routeReferences(res: HTTPRouteResource | GRPCRouteResource, ctx: ReferenceContext): void {
  const { model, err } = ctx;
  const svc = (ns: string, name: string) => model.services.get(`Service/${ns}/${name}`);
  // On a Service parent each hostname selects its own mesh virtual host: it must not be a mesh
  // service's own name, and only one Service may own it (routes of two services would fight over
  // its requests). On a Gateway, hostnames meet the listeners' (checked per parentRef below).
  if (res.spec.parentRefs.some((p) => p.kind === 'Service')) {
    res.spec.hostnames.forEach((h, i) => {
      const svcOf = ctx.serviceHosts().get(h);
      if (svcOf) return err(`spec.hostnames[${i}]`, `'${h}' is the host name of Service ${svcOf}; to route its traffic, attach the route to that Service (parentRefs) without hostnames`);
      const owners = ctx.hostnameOwners().get(h);
      if (owners && owners.size > 1) err(`spec.hostnames[${i}]`, `'${h}' is claimed by routes of several Services (${[...owners].sort().join(', ')}); a hostname belongs to one Service`);
    });
  }
  res.spec.parentRefs.forEach((p, i) => {
    if (p.kind === 'Gateway') return gatewayParent(res, p, `spec.parentRefs[${i}]`, ctx);
    const s = svc(p.namespace, p.name);
    if (!s) return err(`spec.parentRefs[${i}].name`, `Service ${p.namespace}/${p.name} does not exist`);
    if (isTcpService(s)) return err(`spec.parentRefs[${i}].name`, `Service ${p.namespace}/${p.name} is a tcp service: it has no requests for a ${res.kind} to route (its callers reach it through spec.upstreams)`);
    if (p.port !== undefined && !s.spec.ports.some((x) => x.port === p.port)) err(`spec.parentRefs[${i}].port`, `Service ${p.namespace}/${p.name} has no port ${p.port}`);
    if (res.kind === 'GRPCRoute' && !s.spec.ports.some((x) => x.protocol !== 'http')) err(`spec.parentRefs[${i}].name`, `Service ${p.namespace}/${p.name} has no grpc or http2 port for a GRPCRoute`);
  });
  res.spec.rules.forEach((rule, ri) => {
    rule.backendRefs.forEach((b, bi) => httpBackend(b, `spec.rules[${ri}].backendRefs[${bi}]`, res.kind, ctx));
    rule.filters.forEach((f, fi) => {
      if (f.type === 'RequestMirror') httpBackend(f.requestMirror.backendRef, `spec.rules[${ri}].filters[${fi}].requestMirror.backendRef`, res.kind, ctx);
      if (f.type === 'ExtensionRef') {
        const ns = res.metadata.namespace;
        const { kind, name } = f.extensionRef;
        if (extensionTarget(model, kind, ns, name) === undefined) err(`spec.rules[${ri}].filters[${fi}].extensionRef.name`, `${kind} ${ns}/${name} does not exist`);
        // CORS and compression are done at the edge (translate/filters/cors.ts, compressor.ts): on a route the mesh alone serves they would do nothing.
        else if (GATEWAY_ONLY_EXTENSION_REF_KINDS.has(kind) && !res.spec.parentRefs.some((pr) => pr.kind === 'Gateway')) err(`spec.rules[${ri}].filters[${fi}].extensionRef`, `a ${kind} takes effect at a gateway: the route needs a Gateway parentRef`);
        // Authentication on a rule is enforced by the gateway: a mesh parent would let mesh callers in unchecked (a Service's sidecars enforce a JwtPolicy or ApiKeyPolicy by targetRefs).
        else if ((kind === 'JwtPolicy' || kind === 'ApiKeyPolicy') && res.spec.parentRefs.some((p) => p.kind !== 'Gateway')) {
          err(`spec.rules[${ri}].filters[${fi}].extensionRef.kind`, `${kind === 'ApiKeyPolicy' ? 'an' : 'a'} ${kind} on a route rule is enforced by Gateways only (every parentRef a Gateway); to authenticate mesh callers target the Service with the policy's spec.targetRefs`);
        }
        // The cache runs at gateways only (edge responses); on a mesh parent it would do nothing.
        else if (kind === 'CachePolicy' && (res.kind !== 'HTTPRoute' || res.spec.parentRefs.some((p) => p.kind !== 'Gateway'))) {
          err(`spec.rules[${ri}].filters[${fi}].extensionRef.kind`, 'a CachePolicy applies to HTTPRoutes attached to Gateways only (every parentRef a Gateway)');
        }
        // Validation and transformation act on HTTP/JSON messages; gRPC calls pass them untouched.
        else if ((kind === 'ValidationPolicy' || kind === 'TransformationPolicy') && res.kind === 'GRPCRoute') {
          err(`spec.rules[${ri}].filters[${fi}].extensionRef.kind`, `a ${kind} acts on HTTP requests (JSON, XML); a GRPCRoute's calls are gRPC, which it leaves untouched`);
        }
        // The composition is the gateway's (its calls go through the gateway listener's routes).
        else if (kind === 'AggregationPolicy' && (res.kind !== 'HTTPRoute' || res.spec.parentRefs.some((p) => p.kind !== 'Gateway'))) {
          err(`spec.rules[${ri}].filters[${fi}].extensionRef.kind`, 'an AggregationPolicy applies to HTTPRoutes attached to Gateways only (every parentRef a Gateway)');
        }
      }
      if (f.type === 'CORS' && !res.spec.parentRefs.some((pr) => pr.kind === 'Gateway')) err(`spec.rules[${ri}].filters[${fi}]`, 'CORS takes effect at a gateway: the route needs a Gateway parentRef');
    });
  });
}

/** The port of a Service (its `ports`) an HTTP backendRef means: its own, else the service's first (as translate/routes.ts reads it). */
function backendPort(b: BackendRef, ports: ReadonlyArray<{ port: number; protocol: string }>): { port: number; protocol: string } | undefined {
  return b.port === undefined ? ports[0] : ports.find((p) => p.port === b.port);
}

/** An HTTPRoute or GRPCRoute backend (ctx.backend's checks), whose port must not be tcp: requests cannot go to a raw TCP port. */
function httpBackend(b: BackendRef, path: string, kind: string, ctx: ReferenceContext): void {
  ctx.backend(b, path);
  const s = ctx.model.services.get(`Service/${b.namespace}/${b.name}`);
  if (s && backendPort(b, s.spec.ports)?.protocol === 'tcp') ctx.err(b.port === undefined ? `${path}.name` : `${path}.port`, `Service ${b.namespace}/${b.name} port ${backendPort(b, s.spec.ports)!.port} is tcp: a ${kind} sends requests, which a tcp port does not take (use a TCPRoute)`);
}

/** A parent in `weft get` summaries: a Service by name, a Gateway as gateway/<name>[/<listener>]. */
export const parentName = (p: ParentRef): string => (p.kind === 'Gateway' ? `gateway/${p.name}${p.sectionName ? `/${p.sectionName}` : ''}` : p.name);

/**
 * A Gateway parentRef at `path` attaches the route to at least one listener: the Gateway exists,
 * sectionName and port select a listener, one of those admits the route's namespace, and the
 * route's hostnames meet its hostname. Otherwise the reference would be accepted and do nothing.
 */
function gatewayParent(res: HTTPRouteResource | GRPCRouteResource | TCPRouteResource | TLSRouteResource, p: GatewayParentRef, path: string, ctx: ReferenceContext): void {
  const id = `${p.namespace}/${p.name}`;
  const gw = ctx.model.gateways.get(`Gateway/${id}`);
  if (!gw) return ctx.err(`${path}.name`, `Gateway ${id} does not exist`);
  const listeners = gw.spec.listeners;
  const names = listeners.map((l) => `${l.name} (port ${l.port})`).join(', ');
  if (p.sectionName !== undefined && !listeners.some((l) => l.name === p.sectionName)) return ctx.err(`${path}.sectionName`, `Gateway ${id} has no listener '${p.sectionName}' (listeners: ${names})`);
  const positioned = listeners.filter((l) => selectsListener(p, l));
  if (!positioned.length) return ctx.err(`${path}.port`, p.sectionName === undefined ? `Gateway ${id} has no listener on port ${p.port} (listeners: ${names})` : `listener '${p.sectionName}' of Gateway ${id} is on port ${listeners.find((l) => l.name === p.sectionName)!.port}, not ${p.port}`);
  // Gateway API: a route attaches only to listeners whose protocol takes its kind.
  const selected = positioned.filter((l) => routeKindFits(res.kind, l.protocol));
  if (!selected.length) {
    const which = positioned.length === 1 ? `listener '${positioned[0]!.name}' of Gateway ${id} is ${positioned[0]!.protocol}` : `no selected listener of Gateway ${id} (${positioned.map((l) => `${l.name}: ${l.protocol}`).join(', ')}) fits`;
    return ctx.err(p.sectionName !== undefined ? `${path}.sectionName` : path, `${which}; a ${res.kind} attaches to ${protocolsFor(res.kind)} listeners`);
  }
  const ns = res.metadata.namespace;
  const admitted = selected.filter((l) => admitsNamespace(gw, l, ns));
  if (!admitted.length) return ctx.err(path, `${selected.length > 1 ? 'no listener' : `listener '${selected[0]!.name}'`} of Gateway ${id} admits routes from namespace ${ns} (allowedRoutes.namespaces.from: Same admits only ${gw.metadata.namespace}; set All to admit every namespace)`);
  const hostnames = 'hostnames' in res.spec ? res.spec.hostnames : [];
  if (!admitted.some((l) => listenerHostnames(hostnames, l.hostname).length)) {
    const hosts = [...new Set(admitted.map((l) => l.hostname))].join(', ');
    ctx.err(path, `no hostname of the route (${hostnames.join(', ')}) matches the hostname of ${admitted.length > 1 ? 'the listeners' : `listener '${admitted[0]!.name}'`} of Gateway ${id} (${hosts})`);
  }
}

// ------------------------------------------------------------------------------- layer-4 routes

/**
 * The rules of a TCPRoute or TLSRoute: one rule (layer 4 has no matches, so a second rule could
 * never be chosen), whose backendRefs (Services, port, weight) share the connections by weight.
 */
export function readL4Rules(r: Reader, v: unknown, ns: string, kind: 'TCPRoute' | 'TLSRoute'): L4RouteRule[] {
  const rules = r.arr(v, 'spec.rules', (x, p): L4RouteRule | undefined => {
    // No `name`: nothing (status, policies) would refer to it here.
    const ro = r.obj(x, p, ['backendRefs'], ['backendRefs']);
    if (!ro) return undefined;
    const backendRefs = r.arr(ro.backendRefs, `${p}.backendRefs`, (b, q) => readBackendRef(r, b, q, ns), { nonEmpty: true, max: 16 });
    // Gateway API rejects the connections of a rule whose backends all weigh 0: a route that did that would be better deleted.
    if (backendRefs.length && backendRefs.every((b) => b.weight === 0)) r.err(`${p}.backendRefs`, 'every backendRef has weight 0, so every connection would be refused; give one a weight (or delete the route)');
    return { backendRefs };
  }, { nonEmpty: true });
  if (Array.isArray(v) && v.length > 1) r.err('spec.rules', `a ${kind} has one rule: layer 4 has nothing to match on${kind === 'TLSRoute' ? ' but SNI (spec.hostnames, per route)' : ''}, so a second rule would never be chosen (split the connections by backendRefs weight)`);
  return rules;
}

/**
 * The references of a TCPRoute or TLSRoute: every parentRef attaches to a listener of its
 * protocol (TCP or TLS), no other route of its kind already takes the same connections there
 * (one TCPRoute per TCP listener; one TLSRoute per SNI name and listener; the first by name keeps
 * them), and each backendRef is a tcp port of an existing Service.
 */
export function l4RouteReferences(res: TCPRouteResource | TLSRouteResource, ctx: ReferenceContext): void {
  res.spec.parentRefs.forEach((p, i) => {
    const path = `spec.parentRefs[${i}]`;
    gatewayParent(res, p, path, ctx);
    const gw = ctx.model.gateways.get(`Gateway/${p.namespace}/${p.name}`);
    if (!gw) return;
    const others: ReadonlyArray<TCPRouteResource | TLSRouteResource> = res.kind === 'TCPRoute' ? ctx.model.tcpRoutes : ctx.model.tlsRoutes;
    const me = `${res.metadata.namespace}/${res.metadata.name}`;
    for (const l of gw.spec.listeners) {
      if (!selectsListener(p, l)) continue;
      const mine = attachedHostnames(res, gw, l);
      if (!mine) continue;
      for (const o of others) {
        const key = `${o.metadata.namespace}/${o.metadata.name}`;
        if (key >= me) break; // sorted by key: only earlier routes win over this one
        const theirs = attachedHostnames(o, gw, l);
        const shared = theirs && mine.filter((h) => theirs.includes(h));
        if (shared?.length) {
          ctx.err(path, res.kind === 'TCPRoute'
            ? `TCPRoute ${key} already takes the connections of listener '${l.name}' of Gateway ${p.namespace}/${p.name}; one TCPRoute per TCP listener (split connections by backendRefs weight)`
            : `TLSRoute ${key} already takes SNI ${shared.join(', ')} on listener '${l.name}' of Gateway ${p.namespace}/${p.name}; one TLSRoute per host name and listener`);
          return;
        }
      }
    }
  });
  res.spec.rules.forEach((rule, ri) =>
    rule.backendRefs.forEach((b, bi) => {
      const path = `spec.rules[${ri}].backendRefs[${bi}]`;
      const s = ctx.model.services.get(`Service/${b.namespace}/${b.name}`);
      if (!s) return ctx.err(`${path}.name`, `Service ${b.namespace}/${b.name} does not exist`);
      const tcp = s.spec.ports.filter((x) => x.protocol === 'tcp').map((x) => x.port);
      if (!tcp.length) return ctx.err(`${path}.name`, `Service ${b.namespace}/${b.name} has no tcp port (ports: ${s.spec.ports.map((x) => `${x.port}/${x.protocol}`).join(', ')}); a ${res.kind} carries raw connections, which an HTTP port's sidecar would refuse`);
      if (b.port === undefined && soleTcpPort(s) === undefined) return ctx.err(`${path}.port`, `is required: Service ${b.namespace}/${b.name} has several tcp ports (${tcp.join(', ')})`);
      if (b.port !== undefined && !tcp.includes(b.port)) return ctx.err(`${path}.port`, `Service ${b.namespace}/${b.name} has no tcp port ${b.port} (tcp ports: ${tcp.join(', ')})`);
      if (b.subset !== undefined && !ctx.model.trafficPolicies.get(`Service/${b.namespace}/${b.name}`)?.spec.subsets.some((x) => x.name === b.subset)) {
        ctx.err(`${path}.subset`, `no TrafficPolicy for Service ${b.namespace}/${b.name} defines subset '${b.subset}'`);
      }
    }),
  );
}
