/** Parts HTTPRoute and GRPCRoute share: parentRefs, backendRefs, header matches and filters, retry. */
import type { BackendRef, ExtensionRef, ExtensionRefKind, GRPCRouteResource, GatewayParentRef, HTTPRouteResource, HeaderMatch, HeaderModifier, ParentRef, RequestMirror, RetryPolicy, RouteTimeouts } from '../types.js';
import type { Reader } from '../schema.js';
import type { ReferenceContext } from './kind.js';
import { GATEWAY_GROUP } from '../api-versions.js';
import { admitsNamespace, listenerHostnames, selectsListener } from './gateway.js';
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
  return r.arr(v, path, (x, p): ParentRef | undefined => {
    const o = r.obj(x, p, ['group', 'kind', 'name', 'namespace', 'sectionName', 'port'], ['name']);
    if (!o) return undefined;
    const kind = o.kind === undefined || o.kind === null ? 'Service' : (r.str(o.kind, `${p}.kind`, { oneOf: ['Service', 'Gateway'] }) as ParentRef['kind'] | undefined);
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
    if (p.port !== undefined && !s.spec.ports.some((x) => x.port === p.port)) err(`spec.parentRefs[${i}].port`, `Service ${p.namespace}/${p.name} has no port ${p.port}`);
    if (res.kind === 'GRPCRoute' && !s.spec.ports.some((x) => x.protocol !== 'http')) err(`spec.parentRefs[${i}].name`, `Service ${p.namespace}/${p.name} has no grpc or http2 port for a GRPCRoute`);
  });
  res.spec.rules.forEach((rule, ri) => {
    rule.backendRefs.forEach((b, bi) => ctx.backend(b, `spec.rules[${ri}].backendRefs[${bi}]`));
    rule.filters.forEach((f, fi) => {
      if (f.type === 'RequestMirror') ctx.backend(f.requestMirror.backendRef, `spec.rules[${ri}].filters[${fi}].requestMirror.backendRef`);
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

/** A parent in `weft get` summaries: a Service by name, a Gateway as gateway/<name>[/<listener>]. */
export const parentName = (p: ParentRef): string => (p.kind === 'Gateway' ? `gateway/${p.name}${p.sectionName ? `/${p.sectionName}` : ''}` : p.name);

/**
 * A Gateway parentRef at `path` attaches the route to at least one listener: the Gateway exists,
 * sectionName and port select a listener, one of those admits the route's namespace, and the
 * route's hostnames meet its hostname. Otherwise the reference would be accepted and do nothing.
 */
function gatewayParent(res: HTTPRouteResource | GRPCRouteResource, p: GatewayParentRef, path: string, ctx: ReferenceContext): void {
  const id = `${p.namespace}/${p.name}`;
  const gw = ctx.model.gateways.get(`Gateway/${id}`);
  if (!gw) return ctx.err(`${path}.name`, `Gateway ${id} does not exist`);
  const listeners = gw.spec.listeners;
  const names = listeners.map((l) => `${l.name} (port ${l.port})`).join(', ');
  if (p.sectionName !== undefined && !listeners.some((l) => l.name === p.sectionName)) return ctx.err(`${path}.sectionName`, `Gateway ${id} has no listener '${p.sectionName}' (listeners: ${names})`);
  const selected = listeners.filter((l) => selectsListener(p, l));
  if (!selected.length) return ctx.err(`${path}.port`, p.sectionName === undefined ? `Gateway ${id} has no listener on port ${p.port} (listeners: ${names})` : `listener '${p.sectionName}' of Gateway ${id} is on port ${listeners.find((l) => l.name === p.sectionName)!.port}, not ${p.port}`);
  const ns = res.metadata.namespace;
  const admitted = selected.filter((l) => admitsNamespace(gw, l, ns));
  if (!admitted.length) return ctx.err(path, `${selected.length > 1 ? 'no listener' : `listener '${selected[0]!.name}'`} of Gateway ${id} admits routes from namespace ${ns} (allowedRoutes.namespaces.from: Same admits only ${gw.metadata.namespace}; set All to admit every namespace)`);
  if (!admitted.some((l) => listenerHostnames(res.spec.hostnames, l.hostname).length)) {
    const hosts = [...new Set(admitted.map((l) => l.hostname))].join(', ');
    ctx.err(path, `no hostname of the route (${res.spec.hostnames.join(', ')}) matches the hostname of ${admitted.length > 1 ? 'the listeners' : `listener '${admitted[0]!.name}'`} of Gateway ${id} (${hosts})`);
  }
}
