/**
 * HTTPRoute and GRPCRoute rules -> Envoy Routes inside the virtual host of the Service they attach
 * to. Order follows Gateway API precedence (exact path, then longest prefix, then regex; then
 * method, header and query matches), then resource key and rule order. A default route to the
 * service itself comes last, so requests no rule matches still reach the service.
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  DirectResponseActionSchema,
  RedirectActionSchema,
  RedirectAction_RedirectResponseCode,
  RouteActionSchema,
  RouteAction_RequestMirrorPolicySchema,
  RouteMatchSchema,
  RouteSchema,
  type HeaderMatcherSchema,
  type Route,
  type RouteAction_RequestMirrorPolicy,
} from '../../proto/gen/envoy/config/route/v3/route_components_pb.js';
import {
  HeaderValueOptionSchema,
  HeaderValueOption_HeaderAppendAction,
  type HeaderValueOption,
} from '../../proto/gen/envoy/config/core/v3/base_pb.js';
import type {
  BackendRef,
  GRPCRouteMatch,
  GRPCRouteResource,
  GatewayListener,
  GatewayResource,
  HTTPRouteFilter,
  HTTPRouteResource,
  GRPCRouteFilter,
  HTTPRouteMatch,
  HeaderMatch,
  HeaderModifier,
  MeshModel,
  ParentRef,
  RetryPolicy,
  RouteTimeouts,
  SecurityHeadersPolicyResource,
  SecurityHeadersPolicySpec,
  ServiceResource,
  TrafficPolicyResource,
} from '../config/types.js';
import { clusterName } from './names.js';
import { routeConfigs } from './filters/index.js';
import { attachedHostnames, hostnameCovers } from '../config/kinds/gateway.js';
import { duration, fractionOf } from './proto-helpers.js';
import { ruleExtension } from '../config/kinds/policy-attachment.js';
import { securityHeaderOptions } from './security-headers.js';

type RouteInit = Route;
type Body = Pick<Route, 'action' | 'requestHeadersToAdd' | 'requestHeadersToRemove' | 'responseHeadersToAdd' | 'responseHeadersToRemove'>;
type ActionInit = MessageInitShape<typeof RouteActionSchema>;
type HeaderInit = MessageInitShape<typeof HeaderMatcherSchema>;
type Filter = HTTPRouteFilter | GRPCRouteFilter;

/** Default request timeout for HTTP ports (Envoy's default); gRPC ports rely on grpc-timeout. */
const DEFAULT_HTTP_TIMEOUT_MS = 15_000;

/** What building Envoy Routes from route rules needs, for a mesh service port or a gateway listener. */
export interface RuleContext {
  model: MeshModel;
  /** The service whose virtual host this is (mesh routes); undefined on a gateway. */
  svc?: ServiceResource;
  /** Its port (mesh routes); undefined on a gateway. */
  port?: number;
  /** gRPC semantics: no default timeout, grpc-timeout honoured. */
  grpc: boolean;
  /** Referenced clusters are collected here for the snapshot's consistency refs. */
  refs: Set<string>;
  /**
   * The node is a proxyless gRPC client: emit only forms that every gRPC xDS client ACKs (see
   * "Proxyless forms" below).
   */
  proxyless: boolean;
  /**
   * Security headers (security-headers.ts): the gateway listener's SecurityHeadersPolicy, for
   * rules that name none, and whether the listener is over TLS (HSTS). Absent on mesh routes,
   * where only a rule's own policy applies.
   */
  securityHeaders?: { listener: SecurityHeadersPolicySpec | undefined; tls: boolean };
  /** The Gateway listener the routes are built for (gateway nodes only). */
  gateway?: GatewayRouteTarget;
}

/** A Gateway and one of its listeners. */
export interface GatewayRouteTarget {
  readonly gw: GatewayResource;
  readonly listener: GatewayListener;
}

export interface RouteContext extends RuleContext {
  svc: ServiceResource;
  port: number;
  /**
   * The virtual host being built: undefined for the service's own (routes without hostnames),
   * else one of its routes' hostnames (routes naming it, plus routes without hostnames, which
   * apply to every hostname of their parent as in the Gateway API).
   */
  hostname?: string;
}

/**
 * Gateway API precedence across routes: rules of a route naming the host exactly, then of one
 * naming it by wildcard (longer first), then of routes without hostnames.
 */
function hostRank(hostnames: readonly string[], ctx: RouteContext): number[] {
  const h = ctx.hostname;
  if (h === undefined || hostnames.length === 0) return [2, 0];
  if (hostnames.includes(h)) return [0, 0];
  return [1, -Math.max(...hostnames.filter((x) => x.startsWith('*.') && h.endsWith(x.slice(1))).map((x) => x.length))];
}

/** Does a route with these hostnames apply to the virtual host of `ctx`? */
function forHost(hostnames: readonly string[], ctx: RouteContext): boolean {
  if (hostnames.length === 0) return true;
  const h = ctx.hostname;
  if (h === undefined) return false;
  return hostnames.some((x) => x === h || (x.startsWith('*.') && !h.startsWith('*.') && h.endsWith(x.slice(1))));
}

/** The hostnames routes attached to this service port name (each becomes a virtual host). */
export function routeHostnames(ctx: RouteContext): string[] {
  const out = new Set<string>();
  for (const list of [ctx.model.httpRoutes, ctx.model.grpcRoutes]) {
    for (const r of list) if (attaches(r.spec.parentRefs, ctx)) for (const h of r.spec.hostnames) out.add(h);
  }
  return [...out].sort();
}

interface Candidate {
  route: RouteInit;
  rank: number[];
}

/*
 * Proxyless forms. gRPC xDS clients validate RouteConfigurations more narrowly than Envoy, and one
 * route they refuse NACKs the whole `outbound` RouteConfiguration (every service's routes):
 *  - path: only prefix, path and safe_regex (no path_separated_prefix);
 *  - header matchers: gRPC C-core up to 1.51 (Debian 12's python3-grpcio) knows only the legacy
 *    oneof fields (exact_match, safe_regex_match, prefix_match, ...), not string_match;
 *    grpc-js-xds 1.14 takes both; newer C-core and grpc-go still take the legacy ones;
 *  - weighted_clusters: C-core 1.51 requires the weights to sum to total_weight, which defaults
 *    to 100; newer clients ignore total_weight and use the sum, so total_weight = sum fits all;
 *  - actions: only route (no redirect or direct response);
 *  - query parameter matches: C-core skips such routes and grpc-js-xds ignores the condition (a
 *    wider match); a gRPC request has no query string, so the route never matches: left out;
 *  - request_mirror_policies: gRPC clients do not mirror; RequestMirror filters are left out.
 * Regexes are grouped, `(?:re)`: both clients full-match, but grpc-js-xds anchors as `^re$`, which
 * would split an alternation (`a|b`).
 */
const fullMatchRegex = (re: string): string => `(?:${re})`;

function headerMatcher(h: HeaderMatch, proxyless: boolean): HeaderInit {
  if (proxyless) {
    return {
      name: h.name,
      headerMatchSpecifier: h.type === 'Exact' ? { case: 'exactMatch', value: h.value } : { case: 'safeRegexMatch', value: { regex: fullMatchRegex(h.value) } },
    };
  }
  return {
    name: h.name,
    headerMatchSpecifier: {
      case: 'stringMatch',
      value: { matchPattern: h.type === 'Exact' ? { case: 'exact', value: h.value } : { case: 'safeRegex', value: { regex: h.value } } },
    },
  };
}

/** An exact header match on `name` (the `:method` of an HTTPRoute match). */
function exactHeader(name: string, value: string, proxyless: boolean): HeaderInit {
  return headerMatcher({ type: 'Exact', name, value }, proxyless);
}

function backendCluster(ctx: RuleContext, b: BackendRef): string {
  const target = ctx.model.services.get(`Service/${b.namespace}/${b.name}`);
  const port = b.port ?? target?.spec.ports[0]?.port ?? ctx.port ?? 0;
  const name = clusterName(b.namespace, b.name, port, b.subset ?? '');
  ctx.refs.add(name);
  return name;
}

function policyFor(ctx: RuleContext, b: BackendRef | undefined): TrafficPolicyResource | undefined {
  const s = b ?? ctx.svc?.metadata;
  return s ? ctx.model.trafficPolicies.get(`Service/${s.namespace}/${s.name}`) : undefined;
}

function headerOps(m: HeaderModifier): { add: HeaderValueOption[]; remove: string[] } {
  const opt = (name: string, value: string, appendAction: HeaderValueOption_HeaderAppendAction) =>
    create(HeaderValueOptionSchema, { header: { key: name, value }, appendAction });
  return {
    add: [
      ...m.set.map((h) => opt(h.name, h.value, HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD)),
      ...m.add.map((h) => opt(h.name, h.value, HeaderValueOption_HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD)),
    ],
    remove: m.remove,
  };
}

function retryPolicy(r: RetryPolicy, perTryMs: number | undefined): ActionInit['retryPolicy'] {
  return {
    retryOn: r.retryOn.join(','),
    numRetries: Math.max(0, r.attempts - 1),
    ...(r.perTryTimeoutMs ?? perTryMs ? { perTryTimeout: duration((r.perTryTimeoutMs ?? perTryMs)!) } : {}),
    ...(r.backoff ? { retryBackOff: { baseInterval: duration(r.backoff.baseIntervalMs), maxInterval: duration(r.backoff.maxIntervalMs) } } : {}),
    retriableStatusCodes: r.codes,
  };
}

const REDIRECT_CODES: Record<number, RedirectAction_RedirectResponseCode> = {
  301: RedirectAction_RedirectResponseCode.MOVED_PERMANENTLY,
  302: RedirectAction_RedirectResponseCode.FOUND,
  303: RedirectAction_RedirectResponseCode.SEE_OTHER,
  307: RedirectAction_RedirectResponseCode.TEMPORARY_REDIRECT,
  308: RedirectAction_RedirectResponseCode.PERMANENT_REDIRECT,
};

type PrefixReplacement = { case: 'prefixRewrite'; value: string } | { case: 'regexRewrite'; value: { pattern: { regex: string }; substitution: string } };

/**
 * Gateway API ReplacePrefixMatch of the matched `prefix` by `to`, for a RouteAction or a
 * RedirectAction (both have prefix_rewrite and regex_rewrite). Gateway API ignores a trailing
 * slash on either ('/foo/' or '/foo' by '/xyz' or '/xyz/': '/foo/bar' -> '/xyz/bar') and never
 * leaves '//'; Envoy's prefix_rewrite splices strings ('/foo' by '/' gives '//bar', '/foo/' by
 * '/xyz' gives '/xyzbar'), so only the plain case uses it and the rest is a regex_rewrite.
 */
function replacePrefix(prefix: string, to: string): PrefixReplacement {
  const p = prefix.replace(/\/+$/, '');
  const t = to.replace(/\/+$/, '');
  if (t === '') return p === '' ? { case: 'prefixRewrite', value: prefix } : { case: 'regexRewrite', value: { pattern: { regex: `^${escapeRegex(p)}/*` }, substitution: '/' } };
  if (p !== '' && p === prefix && t === to) return { case: 'prefixRewrite', value: to };
  return { case: 'regexRewrite', value: { pattern: { regex: `^${escapeRegex(p)}` }, substitution: t } };
}

type RedirectPath = NonNullable<Extract<HTTPRouteFilter, { type: 'RequestRedirect' }>['requestRedirect']['path']>;

function redirectPath(p: RedirectPath, prefixMatch: string | undefined): MessageInitShape<typeof RedirectActionSchema>['pathRewriteSpecifier'] {
  if (p.type === 'ReplaceFullPath') return { case: 'pathRedirect', value: p.replaceFullPath };
  return prefixMatch === undefined ? { case: 'prefixRewrite', value: p.replacePrefixMatch } : replacePrefix(prefixMatch, p.replacePrefixMatch);
}

/** Builds the action part of a route (forward, redirect or direct response) and its header edits. */
function routeBody(ctx: RuleContext, backends: BackendRef[], filters: Filter[], timeouts: RouteTimeouts | undefined, retry: RetryPolicy | undefined, prefixMatch: string | undefined): Body {
  const out: Body = { action: { case: undefined }, requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [] };
  const reqAdd = out.requestHeadersToAdd;
  const reqRemove = out.requestHeadersToRemove;
  const resAdd = out.responseHeadersToAdd;
  const resRemove = out.responseHeadersToRemove;
  let rewrite: Extract<HTTPRouteFilter, { type: 'URLRewrite' }>['urlRewrite'] | undefined;
  const mirrors: RouteAction_RequestMirrorPolicy[] = [];
  for (const f of filters) {
    switch (f.type) {
      case 'RequestHeaderModifier': {
        const o = headerOps(f.requestHeaderModifier);
        reqAdd.push(...o.add);
        reqRemove.push(...o.remove);
        break;
      }
      case 'ResponseHeaderModifier': {
        const o = headerOps(f.responseHeaderModifier);
        resAdd.push(...o.add);
        resRemove.push(...o.remove);
        break;
      }
      case 'URLRewrite':
        rewrite = f.urlRewrite;
        break;
      case 'RequestMirror':
        // gRPC clients do not mirror: their routes leave the policy off (see "Proxyless forms").
        if (ctx.proxyless) break;
        mirrors.push(
          create(RouteAction_RequestMirrorPolicySchema, {
            cluster: backendCluster(ctx, f.requestMirror.backendRef),
            runtimeFraction: { defaultValue: fractionOf(f.requestMirror.fraction.numerator, f.requestMirror.fraction.denominator) },
          }),
        );
        break;
      case 'RequestRedirect': {
        const r = f.requestRedirect;
        out.action = {
          case: 'redirect',
          value: create(RedirectActionSchema, {
            ...(r.scheme ? { schemeRewriteSpecifier: { case: 'schemeRedirect' as const, value: r.scheme } } : {}),
            ...(r.hostname ? { hostRedirect: r.hostname } : {}),
            ...(r.port ? { portRedirect: r.port } : {}),
            ...(r.path ? { pathRewriteSpecifier: redirectPath(r.path, prefixMatch) } : {}),
            responseCode: REDIRECT_CODES[r.statusCode] ?? RedirectAction_RedirectResponseCode.FOUND,
          }),
        };
        break;
      }
    }
  }
  if (out.action.case) return out;

  if (backends.length === 0 && filters.some((f) => f.type === 'ExtensionRef' && f.extensionRef.kind === 'AggregationPolicy')) {
    // The aggregation filter answers these requests (translate/filters/aggregation.ts); a proxy
    // without it (the filter is optional) gets this answer instead of a route with no cluster.
    out.action = { case: 'directResponse', value: create(DirectResponseActionSchema, { status: 500, body: { specifier: { case: 'inlineString', value: 'this route is answered by the aggregation filter, which this proxy does not run\n' } } }) };
    return out;
  }
  const live = backends.filter((b) => b.weight > 0);
  if (backends.length > 0 && live.length === 0) {
    // Gateway API: a rule whose backends all weigh 0 answers 500.
    out.action = { case: 'directResponse', value: create(DirectResponseActionSchema, { status: 500, body: { specifier: { case: 'inlineString', value: 'no backend has weight > 0\n' } } }) };
    return out;
  }
  const policy = policyFor(ctx, backends[0]);
  const action: ActionInit = {};
  if (live.length === 1) action.clusterSpecifier = { case: 'cluster', value: backendCluster(ctx, live[0]!) };
  else {
    const clusters = live.map((b) => ({ name: backendCluster(ctx, b), weight: b.weight }));
    // total_weight for gRPC C-core <= 1.51, which otherwise takes 100 (see "Proxyless forms").
    const totalWeight = ctx.proxyless ? { totalWeight: clusters.reduce((sum, c) => sum + c.weight, 0) } : {};
    action.clusterSpecifier = { case: 'weightedClusters', value: { clusters, ...totalWeight } };
  }
  const timeoutMs = timeouts?.request ?? policy?.spec.timeoutMs ?? (ctx.grpc ? 0 : DEFAULT_HTTP_TIMEOUT_MS);
  action.timeout = duration(timeoutMs);
  if (ctx.grpc) action.maxStreamDuration = { grpcTimeoutHeaderMax: duration(0) };
  const r = retry ?? policy?.spec.retry;
  // One attempt means no retry policy (gRPC clients reject num_retries 0).
  if (r && r.attempts > 1) action.retryPolicy = retryPolicy(r, timeouts?.backendRequest);
  if (rewrite?.hostname) action.hostRewriteSpecifier = { case: 'hostRewriteLiteral', value: rewrite.hostname };
  if (rewrite?.path?.type === 'ReplacePrefixMatch' && prefixMatch !== undefined) {
    const pr = replacePrefix(prefixMatch, rewrite.path.replacePrefixMatch);
    if (pr.case === 'prefixRewrite') action.prefixRewrite = pr.value;
    else action.regexRewrite = pr.value;
  }
  if (rewrite?.path?.type === 'ReplaceFullPath') action.regexRewrite = { pattern: { regex: '^.*$' }, substitution: rewrite.path.replaceFullPath };
  if (mirrors.length) action.requestMirrorPolicies = mirrors;
  const rh = policy?.spec.loadBalancer.type === 'RingHash' ? policy.spec.loadBalancer.ringHash : undefined;
  if (rh) {
    action.hashPolicy = [
      rh.hashOn === 'header'
        ? { policySpecifier: { case: 'header', value: { headerName: rh.header ?? '' } } }
        : rh.hashOn === 'cookie'
          ? { policySpecifier: { case: 'cookie', value: { name: rh.cookie?.name ?? '', ...(rh.cookie?.ttlMs ? { ttl: duration(rh.cookie.ttlMs) } : {}), path: rh.cookie?.path ?? '' } } }
          : { policySpecifier: { case: 'connectionProperties', value: { sourceIp: true } } },
    ];
  }
  out.action = { case: 'route', value: create(RouteActionSchema, action) };
  return out;
}

type MatchInit = MessageInitShape<typeof RouteMatchSchema>;

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function httpMatch(m: HTTPRouteMatch, proxyless: boolean): { match: MatchInit; rank: number[]; prefix?: string } {
  const headers: HeaderInit[] = m.headers.map((h) => headerMatcher(h, proxyless));
  if (m.method) headers.push(exactHeader(':method', m.method, proxyless));
  const p = m.path ?? { type: 'PathPrefix' as const, value: '/' };
  const pathSpecifier =
    p.type === 'Exact'
      ? { case: 'path' as const, value: p.value }
      : p.type === 'PathPrefix'
        ? { case: 'pathSeparatedPrefix' as const, value: p.value }
        : { case: 'safeRegex' as const, value: { regex: proxyless ? fullMatchRegex(p.value) : p.value } };
  // Envoy's path_separated_prefix refuses '/' and trailing slashes; use plain prefix there.
  let spec: MatchInit['pathSpecifier'] = p.type === 'PathPrefix' && (p.value === '/' || p.value.endsWith('/')) ? { case: 'prefix' as const, value: p.value } : pathSpecifier;
  // Same path-element semantics for gRPC clients, which reject path_separated_prefix.
  if (proxyless && spec.case === 'pathSeparatedPrefix') spec = { case: 'safeRegex', value: { regex: `^${escapeRegex(p.value)}(/.*)?$` } };
  return {
    match: {
      pathSpecifier: spec,
      headers,
      queryParameters: m.queryParams.map((q) => ({
        name: q.name,
        queryParameterMatchSpecifier: { case: 'stringMatch' as const, value: { matchPattern: q.type === 'Exact' ? { case: 'exact' as const, value: q.value } : { case: 'safeRegex' as const, value: { regex: q.value } } } },
      })),
    },
    rank: [p.type === 'Exact' ? 0 : p.type === 'PathPrefix' ? 1 : 2, p.type === 'PathPrefix' ? -p.value.length : 0, m.method ? 0 : 1, -m.headers.length, -m.queryParams.length],
    prefix: p.type === 'PathPrefix' ? p.value : undefined,
  };
}

function grpcMatch(m: GRPCRouteMatch, proxyless: boolean): { match: MatchInit; rank: number[] } {
  const headers = m.headers.map((h) => headerMatcher(h, proxyless));
  const mm = m.method;
  let pathSpecifier: MatchInit['pathSpecifier'];
  let rank = 2;
  if (!mm) pathSpecifier = { case: 'prefix', value: '/' };
  else if (mm.type === 'Exact' && mm.service && mm.method) {
    pathSpecifier = { case: 'path', value: `/${mm.service}/${mm.method}` };
    rank = 0;
  } else if (mm.type === 'Exact' && mm.service) {
    pathSpecifier = { case: 'prefix', value: `/${mm.service}/` };
    rank = 1;
  } else {
    // A user regex is grouped: `a|b` as the service must not split the whole path pattern.
    const esc = (s: string) => (mm.type === 'Exact' ? escapeRegex(s) : `(?:${s})`);
    pathSpecifier = { case: 'safeRegex', value: { regex: `^/${mm.service ? esc(mm.service) : '[^/]+'}/${mm.method ? esc(mm.method) : '[^/]+'}$` } };
  }
  return { match: { pathSpecifier, headers }, rank: [rank, 0, 1, -m.headers.length, 0] };
}

/** A mesh route's Service parentRefs name this service port (Gateway parents are the gateway's, not the mesh's). */
function attaches(parentRefs: readonly ParentRef[], ctx: RouteContext): boolean {
  return parentRefs.some((p) => p.kind === 'Service' && p.name === ctx.svc.metadata.name && p.namespace === ctx.svc.metadata.namespace && (p.port === undefined || p.port === ctx.port));
}

type AnyRoute = HTTPRouteResource | GRPCRouteResource;

/**
 * The Envoy Routes of every rule of the routes `select` takes, in precedence order. `select`
 * gives a route's host precedence (see hostRank), or undefined when the virtual host does not
 * take it; `grpcOf`, when set, decides gRPC semantics per rule instead of `ctx.grpc`.
 */
function ruleRoutes(ctx: RuleContext, select: (r: AnyRoute) => number[] | undefined, grpcOf?: (r: AnyRoute, rule: AnyRoute['spec']['rules'][number]) => boolean): RouteInit[] {
  const cands: Candidate[] = [];
  let seq = 0;
  const ruleCtx = (r: AnyRoute, rule: AnyRoute['spec']['rules'][number]): RuleContext => (grpcOf ? { ...ctx, grpc: grpcOf(r, rule) } : ctx);
  // The rule's SecurityHeadersPolicy, else the listener's; its headers go before the rule's own edits.
  const body = (rc: RuleContext, r: AnyRoute, rule: AnyRoute['spec']['rules'][number], prefix: string | undefined): Body => {
    const b = routeBody(rc, rule.backendRefs, rule.filters, rule.timeouts, rule.retry, prefix);
    const own = ruleExtension<SecurityHeadersPolicyResource>(ctx.model, rule.filters, 'SecurityHeadersPolicy', r.metadata.namespace)?.spec;
    const spec: SecurityHeadersPolicySpec | undefined = own ?? ctx.securityHeaders?.listener;
    if (spec) b.responseHeadersToAdd = [...securityHeaderOptions(spec, ctx.securityHeaders?.tls ?? false), ...b.responseHeadersToAdd];
    return b;
  };
  for (const r of ctx.model.httpRoutes) {
    const host = select(r);
    if (!host) continue;
    r.spec.rules.forEach((rule, ri) => {
      const perFilter = routeConfigs({ model: ctx.model, proxyless: ctx.proxyless, namespace: r.metadata.namespace, rule, ...(ctx.gateway ? { gateway: ctx.gateway } : {}) });
      const matches = rule.matches.length ? rule.matches : [{ headers: [], queryParams: [] }];
      const rc = ruleCtx(r, rule);
      for (const m of matches) {
        // gRPC requests carry no query string (see "Proxyless forms").
        if (ctx.proxyless && m.queryParams.length > 0) continue;
        const hm = httpMatch(m, ctx.proxyless);
        cands.push({
          route: create(RouteSchema, { name: `${r.metadata.namespace}/${r.metadata.name}/rule-${ri}`, match: hm.match, ...body(rc, r, rule, hm.prefix), typedPerFilterConfig: perFilter }),
          rank: [...host, ...hm.rank, seq++],
        });
      }
    });
  }
  for (const r of ctx.model.grpcRoutes) {
    const host = select(r);
    if (!host) continue;
    r.spec.rules.forEach((rule, ri) => {
      const perFilter = routeConfigs({ model: ctx.model, proxyless: ctx.proxyless, namespace: r.metadata.namespace, rule, ...(ctx.gateway ? { gateway: ctx.gateway } : {}) });
      const matches = rule.matches.length ? rule.matches : [{ headers: [] }];
      const rc = ruleCtx(r, rule);
      for (const m of matches) {
        const gm = grpcMatch(m, ctx.proxyless);
        cands.push({
          route: create(RouteSchema, { name: `${r.metadata.namespace}/${r.metadata.name}/rule-${ri}`, match: gm.match, ...body(rc, r, rule, undefined), typedPerFilterConfig: perFilter }),
          rank: [...host, ...gm.rank, seq++],
        });
      }
    });
  }
  cands.sort((a, b) => {
    for (let i = 0; i < a.rank.length; i++) if (a.rank[i] !== b.rank[i]) return a.rank[i]! - b.rank[i]!;
    return 0;
  });
  return cands.map((c) => c.route);
}

/** Every route of one service port's virtual host, in precedence order, default route last. */
export function routesFor(ctx: RouteContext): RouteInit[] {
  const rules = ruleRoutes(ctx, (r) => (attaches(r.spec.parentRefs, ctx) && forHost(r.spec.hostnames, ctx) ? hostRank(r.spec.hostnames, ctx) : undefined));
  const self: BackendRef = { name: ctx.svc.metadata.name, namespace: ctx.svc.metadata.namespace, port: ctx.port, weight: 1 };
  const fallback = create(RouteSchema, { name: 'default', match: { pathSpecifier: { case: 'prefix', value: '/' } }, ...routeBody(ctx, [self], [], undefined, undefined, '/') });
  const routes = [...rules, fallback];
  // gRPC clients only forward: they reject redirect and direct-response routes (and cannot follow them).
  return ctx.proxyless ? routes.filter((r) => r.action.case === 'route') : routes;
}

// ------------------------------------------------------------------------------------- gateways

/** One virtual host of a gateway listener: a host name (precise, `*.suffix` or `*`) and its routes. */
export interface GatewayHost {
  hostname: string;
  routes: RouteInit[];
}

/** Gateway API precedence of a route on virtual host `h`: exact host, then the longest wildcard, then `*`. */
function gatewayHostRank(served: readonly string[], h: string): number[] | undefined {
  if (served.includes(h)) return [0, 0];
  const wild = served.filter((e) => e !== '*' && hostnameCovers(e, h));
  if (wild.length) return [1, -Math.max(...wild.map((e) => e.length))];
  return served.includes('*') ? [2, 0] : undefined;
}

/**
 * The virtual hosts of gateway listener `l` of `gw`: one per host name the routes attached to it
 * serve (their hostnames intersected with the listener's, see attachedHostnames), each holding
 * every attached rule whose host names take its requests, in Gateway API precedence. No default
 * route: a request no rule matches gets 404. Backends are the mesh's outbound clusters.
 */
export function gatewayHosts(model: MeshModel, gw: GatewayResource, l: GatewayListener, refs: Set<string>, securityHeaders?: RuleContext['securityHeaders']): GatewayHost[] {
  const served = new Map<AnyRoute, string[]>();
  for (const list of [model.httpRoutes, model.grpcRoutes]) {
    for (const r of list) {
      const hosts = attachedHostnames(r, gw, l);
      if (hosts) served.set(r, hosts);
    }
  }
  const hostnames = [...new Set([...served.values()].flat())].sort((a, b) => hostOrder(a) - hostOrder(b) || (a < b ? -1 : a > b ? 1 : 0));
  const ctx: RuleContext = { model, grpc: false, refs, proxyless: false, gateway: { gw, listener: l }, ...(securityHeaders ? { securityHeaders } : {}) };
  // gRPC semantics for GRPCRoute rules and for rules whose backend port speaks gRPC.
  const grpcOf = (r: AnyRoute, rule: AnyRoute['spec']['rules'][number]) => r.kind === 'GRPCRoute' || backendProtocol(model, rule.backendRefs[0]) === 'grpc';
  return hostnames.map((h) => ({
    hostname: h,
    routes: ruleRoutes(ctx, (r) => {
      const s = served.get(r);
      return s && gatewayHostRank(s, h);
    }, grpcOf),
  }));
}

/** Precise host names first, then wildcards, then `*`. */
const hostOrder = (h: string): number => (h === '*' ? 2 : h.startsWith('*.') ? 1 : 0);

function backendProtocol(model: MeshModel, b: BackendRef | undefined): string | undefined {
  const s = b && model.services.get(`Service/${b.namespace}/${b.name}`);
  return s && (b.port === undefined ? s.spec.ports[0] : s.spec.ports.find((p) => p.port === b.port))?.protocol;
}
