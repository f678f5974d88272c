/**
 * A RouteConfiguration compiled into a lookup structure, once, when it is accepted: virtual hosts
 * by domain (exact map, then `*.suffix` and `prefix*` wildcards longest first, then `*`), each
 * with its routes in order. A request only walks what was built here.
 */
import { durationMs } from '../xds/types/decoded.js';
import type { RouteConfiguration } from '../../proto/gen/envoy/config/route/v3/route_pb.js';
import {
  RedirectAction_RedirectResponseCode,
  type Route,
  type RouteAction,
  type RetryPolicy,
} from '../../proto/gen/envoy/config/route/v3/route_components_pb.js';
import { HeaderValueOption_HeaderAppendAction, type HeaderValueOption } from '../../proto/gen/envoy/config/core/v3/base_pb.js';
import type { RegexMatchAndSubstitute } from '../../proto/gen/envoy/type/matcher/v3/regex_pb.js';
import { CompiledHeaderMatch, CompiledQueryMatch, type HeaderSource } from './matchers.js';
import type { Any } from '@bufbuild/protobuf/wkt';
import { FractionalPercent_DenominatorType as Denominator } from '../../proto/gen/envoy/type/v3/percent_pb.js';

type Duration = { seconds: bigint; nanos: number } | undefined;
const ms = (d: Duration): number | undefined => durationMs(d, undefined);

/** Retry conditions as bit flags. */
export const RETRY = {
  '5xx': 1,
  'gateway-error': 2,
  reset: 4,
  'connect-failure': 8,
  'retriable-4xx': 16,
  'refused-stream': 32,
  'retriable-status-codes': 64,
  cancelled: 128,
  'deadline-exceeded': 256,
  unavailable: 512,
  'resource-exhausted': 1024,
  internal: 2048,
  'non-idempotent': 4096,
} as const;

export interface CompiledRetry {
  numRetries: number;
  on: number;
  codes: ReadonlySet<number>;
  perTryTimeoutMs: number;
  baseMs: number;
  maxMs: number;
}

export interface HeaderOp {
  name: string;
  value: string;
  action: HeaderValueOption_HeaderAppendAction;
}

/** A hash policy; a cookie policy's regex (finding the cookie in a Cookie header) is built once, here. */
export type HashPolicy = { kind: 'header'; name: string } | { kind: 'cookie'; name: string; re: RegExp; ttlSec: number | undefined; path: string } | { kind: 'source-ip' };

export interface WeightedCluster {
  readonly names: readonly string[];
  readonly cumulative: Float64Array;
}

/**
 * Parses one typed_per_filter_config entry (the sidecar's filter registry, http/filters/index.ts);
 * undefined: an optional config for a filter the sidecar does not have, which is skipped.
 * RouteConfigurations are checked when decoded (xds/types/route.ts); this one may throw.
 */
export type PerFilterParser = (key: string, any: Any) => unknown;

/** A request_mirror_policies entry: a share of the route's requests also goes to `cluster`. */
export interface MirrorPolicy {
  readonly cluster: string;
  readonly numerator: number;
  readonly scale: number;
  /** Append `-shadow` to the host (unless disable_shadow_host_suffix_append). */
  readonly hostSuffix: boolean;
  /** The route the shadow is sent with: the primary's, without retries, hashing or mirrors. */
  readonly route: ForwardRoute;
}

interface RouteCommon {
  name: string;
  /** Filter configs this route overrides, by filter name (the virtual host's, then its own). */
  perFilter: ReadonlyMap<string, unknown> | undefined;
  reqAdd: readonly HeaderOp[];
  reqRemove: readonly string[];
  resAdd: readonly HeaderOp[];
  resRemove: readonly string[];
}

/** A route's path rewrite (prefix_rewrite or regex_rewrite), shared by forwards and redirects. */
export interface PathRewrite {
  prefixRewrite: string | undefined;
  /** The matched prefix (for prefix_rewrite). */
  matchedPrefix: string | undefined;
  regexRewrite: { re: RegExp; sub: string } | undefined;
}

/** The path (and query) the upstream gets: the route's prefix or regex rewrite applied. */
export function upstreamPath(d: { readonly path: string; readonly search: string }, route: PathRewrite): string {
  return rewritePath(d.path, route) + d.search;
}

/** The path after the route's rewrite (the query is not part of it). */
export function rewritePath(path: string, r: PathRewrite): string {
  if (r.prefixRewrite !== undefined && r.matchedPrefix !== undefined) return r.prefixRewrite + path.slice(r.matchedPrefix.length);
  if (r.regexRewrite) return path.replace(r.regexRewrite.re, r.regexRewrite.sub);
  return path;
}

export interface ForwardRoute extends RouteCommon, PathRewrite {
  kind: 'forward';
  cluster: string | undefined;
  weighted: WeightedCluster | undefined;
  /** Route timeout in ms; 0 = none. */
  timeoutMs: number;
  /** Honour grpc-timeout (capped by this if > 0) instead of timeoutMs; undefined = ignore it. */
  grpcTimeoutMaxMs: number | undefined;
  retry: CompiledRetry | undefined;
  hash: readonly HashPolicy[];
  hostRewrite: string | undefined;
  /** The route's upgrade_configs: an Upgrade type enabled (true) or disabled (false) here; else the listener decides. */
  upgrades: ReadonlyMap<string, boolean> | undefined;
  /** Shadow traffic (request_mirror_policies). */
  mirrors: readonly MirrorPolicy[] | undefined;
}

export interface RedirectRoute extends RouteCommon, PathRewrite {
  kind: 'redirect';
  status: number;
  scheme: string | undefined;
  host: string | undefined;
  port: number | undefined;
  /** path_redirect: the whole new path (else the rewrite, if any, applies). */
  path: string | undefined;
  stripQuery: boolean;
}

export interface DirectRoute extends RouteCommon {
  kind: 'direct';
  status: number;
  body: string;
}

export type CompiledRoute = ForwardRoute | RedirectRoute | DirectRoute;

const enum PathKind {
  Prefix,
  Exact,
  Regex,
  Separated,
}

class RouteEntry {
  constructor(
    readonly pathKind: PathKind,
    readonly pathValue: string,
    readonly regex: RegExp | undefined,
    readonly caseSensitive: boolean,
    readonly headers: readonly CompiledHeaderMatch[],
    readonly query: readonly CompiledQueryMatch[],
    readonly route: CompiledRoute,
  ) {}

  matches(path: string, req: HeaderSource, search: string): boolean {
    const p = this.caseSensitive ? path : path.toLowerCase();
    switch (this.pathKind) {
      case PathKind.Prefix:
        if (!p.startsWith(this.pathValue)) return false;
        break;
      case PathKind.Exact:
        if (p !== this.pathValue) return false;
        break;
      case PathKind.Separated:
        if (!p.startsWith(this.pathValue) || (p.length > this.pathValue.length && p.charCodeAt(this.pathValue.length) !== 47)) return false;
        break;
      default:
        if (!this.regex!.test(path)) return false;
    }
    for (let i = 0; i < this.headers.length; i++) if (!this.headers[i]!.test(req)) return false;
    if (this.query.length) {
      const params = new URLSearchParams(search);
      for (let i = 0; i < this.query.length; i++) if (!this.query[i]!.test(params)) return false;
    }
    return true;
  }

  /**
   * Why `matches` is false for this request, for people (`weft explain`); undefined when it
   * matches. The same compiled matchers, in the same order; a property test holds the two equal.
   */
  whyNot(path: string, req: HeaderSource, search: string): string | undefined {
    const p = this.caseSensitive ? path : path.toLowerCase();
    const want = JSON.stringify(this.pathValue);
    switch (this.pathKind) {
      case PathKind.Prefix:
        if (!p.startsWith(this.pathValue)) return `path ${JSON.stringify(path)} does not start with ${want}`;
        break;
      case PathKind.Exact:
        if (p !== this.pathValue) return `path ${JSON.stringify(path)} is not ${want}`;
        break;
      case PathKind.Separated:
        if (!p.startsWith(this.pathValue) || (p.length > this.pathValue.length && p.charCodeAt(this.pathValue.length) !== 47)) return `path ${JSON.stringify(path)} is neither ${want} nor under ${JSON.stringify(`${this.pathValue}/`)}`;
        break;
      default:
        if (!this.regex!.test(path)) return `path ${JSON.stringify(path)} does not match ${this.regex!.source}`;
    }
    for (const h of this.headers) if (!h.test(req)) return `${h.describe()} wanted, got ${req.header(h.name) === undefined ? 'no such header' : JSON.stringify(req.header(h.name))}`;
    if (this.query.length) {
      const params = new URLSearchParams(search);
      for (const q of this.query) if (!q.test(params)) return `${q.describe()} wanted, got ${params.get(q.name) === null ? 'no such parameter' : JSON.stringify(params.get(q.name))}`;
    }
    return undefined;
  }

  /** The match, for people: `prefix "/v1", header x-canary exact "yes"`. */
  describe(): string {
    const path = this.pathKind === PathKind.Regex ? `path regex /${this.regex!.source}/` : `${['prefix', 'path', '', 'path-separated prefix'][this.pathKind]} ${JSON.stringify(this.pathValue)}${this.caseSensitive ? '' : ' (ignoring case)'}`;
    return [path, ...this.headers.map((h) => h.describe()), ...this.query.map((q) => q.describe())].join(', ');
  }
}

class VirtualHost {
  constructor(
    readonly name: string,
    readonly routes: readonly RouteEntry[],
    readonly domains: readonly string[],
  ) {}
}

/** One route as `weft explain` shows it: its match and whether (and why not) this request met it. */
export interface RouteVerdict {
  readonly name: string;
  readonly match: string;
  readonly matched: boolean;
  /** Why it did not match; absent for the matched route and for routes after it (not tried). */
  readonly why?: string;
  /** After the route that matched: never tried. */
  readonly notTried?: boolean;
}

/** How a RouteTable decides one request, step by step (sidecar/explain). */
export interface TableExplanation {
  readonly routeConfig: string;
  /** The virtual host chosen (by exact domain, wildcard suffix or prefix, or `*`), if any. */
  readonly virtualHost: { readonly name: string; readonly domains: readonly string[]; readonly why: string } | undefined;
  /** The other virtual hosts and why they were not chosen. */
  readonly otherVirtualHosts: ReadonlyArray<{ readonly name: string; readonly domains: readonly string[]; readonly why: string }>;
  readonly routes: readonly RouteVerdict[];
  readonly route: CompiledRoute | undefined;
}

const REDIRECT_STATUS: Record<number, number> = {
  [RedirectAction_RedirectResponseCode.MOVED_PERMANENTLY]: 301,
  [RedirectAction_RedirectResponseCode.FOUND]: 302,
  [RedirectAction_RedirectResponseCode.SEE_OTHER]: 303,
  [RedirectAction_RedirectResponseCode.TEMPORARY_REDIRECT]: 307,
  [RedirectAction_RedirectResponseCode.PERMANENT_REDIRECT]: 308,
};

function headerOps(list: readonly HeaderValueOption[]): HeaderOp[] {
  return list
    .filter((o) => o.header)
    .map((o) => ({
      name: o.header!.key.toLowerCase(),
      value: o.header!.value,
      // The deprecated `append` field wins when set (false = overwrite).
      action: o.append === undefined ? o.appendAction : o.append ? HeaderValueOption_HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD : HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
    }));
}

export function compileRetry(r: RetryPolicy | undefined): CompiledRetry | undefined {
  if (!r) return undefined;
  let on = 0;
  for (const t of r.retryOn.split(',')) on |= RETRY[t.trim() as keyof typeof RETRY] ?? 0;
  const base = ms(r.retryBackOff?.baseInterval) ?? 25;
  return {
    numRetries: r.numRetries ?? 1,
    on,
    codes: new Set(r.retriableStatusCodes),
    perTryTimeoutMs: ms(r.perTryTimeout) ?? 0,
    baseMs: base,
    maxMs: ms(r.retryBackOff?.maxInterval) ?? base * 10,
  };
}

/** Envoy's regex_rewrite (every match replaced, `\\N` capture references) as a JS regex and replacement. */
function compileRegexRewrite(r: RegexMatchAndSubstitute): { re: RegExp; sub: string } | undefined {
  return r.pattern ? { re: new RegExp(r.pattern.regex, 'g'), sub: r.substitution.replace(/\\(\d)/g, '$$$1') } : undefined;
}

/** What a FractionalPercent's numerator is out of, per denominator (mirrors, faults). */
export const FRACTION_SCALE: Readonly<Record<number, number>> = { [Denominator.HUNDRED]: 100, [Denominator.TEN_THOUSAND]: 10_000, [Denominator.MILLION]: 1_000_000 };

function compileMirrors(route: ForwardRoute, v: RouteAction): readonly MirrorPolicy[] | undefined {
  const list = v.requestMirrorPolicies;
  if (!list.length) return undefined;
  const shadowRoute: ForwardRoute = { ...route, retry: undefined, hash: [], mirrors: undefined };
  return list.map((m) => {
    const f = m.runtimeFraction?.defaultValue;
    const scale = f ? (FRACTION_SCALE[f.denominator] ?? 100) : 100;
    return { cluster: m.cluster, numerator: f ? Math.min(f.numerator, scale) : scale, scale, hostSuffix: !m.disableShadowHostSuffixAppend, route: shadowRoute };
  });
}

function perFilterOf(vhost: ReadonlyMap<string, unknown> | undefined, own: Record<string, Any>, parse: PerFilterParser | undefined): ReadonlyMap<string, unknown> | undefined {
  const keys = Object.keys(own);
  if (!keys.length) return vhost;
  if (!parse) throw new Error('RouteTable: typed_per_filter_config needs the filter registry');
  const out = new Map(vhost);
  for (const k of keys) {
    const c = parse(k, own[k]!);
    if (c !== undefined) out.set(k, c);
  }
  return out.size ? out : undefined;
}

function compileRoute(r: Route, vhostRetry: RetryPolicy | undefined, perFilter: ReadonlyMap<string, unknown> | undefined): CompiledRoute {
  const common: RouteCommon = {
    name: r.name,
    perFilter,
    reqAdd: headerOps(r.requestHeadersToAdd),
    reqRemove: r.requestHeadersToRemove.map((h) => h.toLowerCase()),
    resAdd: headerOps(r.responseHeadersToAdd),
    resRemove: r.responseHeadersToRemove.map((h) => h.toLowerCase()),
  };
  const prefix = r.match?.pathSpecifier.case === 'prefix' || r.match?.pathSpecifier.case === 'pathSeparatedPrefix' ? r.match.pathSpecifier.value : undefined;
  const a = r.action;
  if (a.case === 'redirect') {
    const v = a.value;
    return {
      ...common,
      kind: 'redirect',
      status: REDIRECT_STATUS[v.responseCode] ?? 301,
      scheme: v.schemeRewriteSpecifier.case === 'schemeRedirect' ? v.schemeRewriteSpecifier.value : v.schemeRewriteSpecifier.case === 'httpsRedirect' && v.schemeRewriteSpecifier.value ? 'https' : undefined,
      host: v.hostRedirect || undefined,
      port: v.portRedirect || undefined,
      path: v.pathRewriteSpecifier.case === 'pathRedirect' ? v.pathRewriteSpecifier.value : undefined,
      prefixRewrite: v.pathRewriteSpecifier.case === 'prefixRewrite' ? v.pathRewriteSpecifier.value : undefined,
      matchedPrefix: prefix,
      regexRewrite: v.pathRewriteSpecifier.case === 'regexRewrite' ? compileRegexRewrite(v.pathRewriteSpecifier.value) : undefined,
      stripQuery: v.stripQuery,
    };
  }
  if (a.case === 'directResponse') {
    const b = a.value.body?.specifier;
    const body = b?.case === 'inlineString' ? b.value : b?.case === 'inlineBytes' ? Buffer.from(b.value).toString() : '';
    return { ...common, kind: 'direct', status: a.value.status, body };
  }
  const v = a.case === 'route' ? a.value : undefined;
  const cs = v?.clusterSpecifier;
  let weighted: WeightedCluster | undefined;
  if (cs?.case === 'weightedClusters') {
    const live = cs.value.clusters.filter((c) => (c.weight ?? 0) > 0);
    let acc = 0;
    weighted = { names: live.map((c) => c.name), cumulative: Float64Array.from(live, (c) => (acc += c.weight!)) };
  }
  const timeout = ms(v?.timeout);
  const msd = v?.maxStreamDuration;
  const fwd: ForwardRoute = {
    ...common,
    kind: 'forward',
    cluster: cs?.case === 'cluster' ? cs.value : undefined,
    weighted,
    timeoutMs: timeout ?? 15_000,
    grpcTimeoutMaxMs: msd?.grpcTimeoutHeaderMax ? ms(msd.grpcTimeoutHeaderMax) : undefined,
    retry: compileRetry(v?.retryPolicy ?? vhostRetry),
    hash: (v?.hashPolicy ?? []).flatMap((h): HashPolicy[] => {
      const s = h.policySpecifier;
      if (s.case === 'header') return [{ kind: 'header', name: s.value.headerName.toLowerCase() }];
      if (s.case === 'cookie') return [{ kind: 'cookie', name: s.value.name, re: new RegExp(`(?:^|;\\s*)${s.value.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}=([^;]*)`), ttlSec: s.value.ttl ? Number(s.value.ttl.seconds) : undefined, path: s.value.path }];
      if (s.case === 'connectionProperties' && s.value.sourceIp) return [{ kind: 'source-ip' }];
      return [];
    }),
    prefixRewrite: v?.prefixRewrite || undefined,
    matchedPrefix: prefix,
    regexRewrite: v?.regexRewrite ? compileRegexRewrite(v.regexRewrite) : undefined,
    hostRewrite: v?.hostRewriteSpecifier.case === 'hostRewriteLiteral' ? v.hostRewriteSpecifier.value : undefined,
    upgrades: v?.upgradeConfigs.length ? new Map(v.upgradeConfigs.map((u) => [u.upgradeType.toLowerCase(), u.enabled !== false])) : undefined,
    mirrors: undefined,
  };
  if (v) fwd.mirrors = compileMirrors(fwd, v);
  return fwd;
}

function compileEntry(r: Route, vhostRetry: RetryPolicy | undefined, perFilter: ReadonlyMap<string, unknown> | undefined): RouteEntry {
  const m = r.match!;
  const ps = m.pathSpecifier;
  const cs = m.caseSensitive ?? true;
  const kind = ps.case === 'path' ? PathKind.Exact : ps.case === 'safeRegex' ? PathKind.Regex : ps.case === 'pathSeparatedPrefix' ? PathKind.Separated : PathKind.Prefix;
  const value = ps.case === 'safeRegex' ? '' : ((ps.value as string | undefined) ?? '/');
  return new RouteEntry(
    kind,
    cs ? value : value.toLowerCase(),
    ps.case === 'safeRegex' ? new RegExp(`^(?:${ps.value.regex})$`) : undefined,
    cs,
    m.headers.map((h) => new CompiledHeaderMatch(h)),
    m.queryParameters.map((q) => new CompiledQueryMatch(q)),
    compileRoute(r, vhostRetry, perFilter),
  );
}

export class RouteTable {
  readonly name: string;
  readonly #exact = new Map<string, VirtualHost>();
  readonly #suffix: Array<[string, VirtualHost]> = [];
  readonly #prefix: Array<[string, VirtualHost]> = [];
  #any: VirtualHost | undefined;

  /** @param perFilter parses typed_per_filter_config entries; without it, a table that has any throws. */
  constructor(rc: RouteConfiguration, perFilter?: PerFilterParser) {
    this.name = rc.name;
    for (const vh of rc.virtualHosts) {
      const vhostFilters = perFilterOf(undefined, vh.typedPerFilterConfig, perFilter);
      const compiled = new VirtualHost(
        vh.name,
        vh.routes.map((r) => compileEntry(r, vh.retryPolicy, perFilterOf(vhostFilters, r.typedPerFilterConfig, perFilter))),
        vh.domains.map((d) => d.toLowerCase()),
      );
      for (const raw of vh.domains) {
        const d = raw.toLowerCase();
        if (d === '*') this.#any = compiled;
        else if (d.startsWith('*')) this.#suffix.push([d.slice(1), compiled]);
        else if (d.endsWith('*')) this.#prefix.push([d.slice(0, -1), compiled]);
        else this.#exact.set(d, compiled);
      }
    }
    this.#suffix.sort((a, b) => b[0].length - a[0].length);
    this.#prefix.sort((a, b) => b[0].length - a[0].length);
  }

  /** Every route, once (filter chains are composed per route that overrides a filter). */
  *routes(): Generator<CompiledRoute> {
    const seen = new Set<VirtualHost>([...this.#exact.values(), ...this.#suffix.map((e) => e[1]), ...this.#prefix.map((e) => e[1]), ...(this.#any ? [this.#any] : [])]);
    for (const vh of seen) for (const e of vh.routes) yield e.route;
  }

  #vhost(host: string): VirtualHost | undefined {
    const exact = this.#exact.get(host);
    if (exact) return exact;
    for (const [s, vh] of this.#suffix) if (host.length > s.length && host.endsWith(s)) return vh;
    for (const [p, vh] of this.#prefix) if (host.length > p.length && host.startsWith(p)) return vh;
    return undefined;
  }

  /**
   * The first route that matches, or undefined.
   * @param authority lowercase host[:port]; a port that matches no domain is retried without it.
   */
  match(authority: string, path: string, search: string, req: HeaderSource): CompiledRoute | undefined {
    const vh = this.#select(authority);
    if (!vh) return undefined;
    const routes = vh.routes;
    for (let i = 0; i < routes.length; i++) if (routes[i]!.matches(path, req, search)) return routes[i]!.route;
    return undefined;
  }

  /** The virtual host for an authority: by its host and port, then by its host alone, then `*`. */
  #select(authority: string): VirtualHost | undefined {
    let vh = this.#vhost(authority);
    if (!vh) {
      const colon = authority.lastIndexOf(':');
      if (colon > 0 && authority.indexOf(']') < colon) vh = this.#vhost(authority.slice(0, colon));
    }
    return vh ?? this.#any;
  }

  /**
   * What `match` decides for this request, and why, for people (`weft explain`): the virtual host
   * it picks (through the same selection) and every route of it in order, with the reason each one
   * before the match did not match. Not on the request path: it allocates freely.
   */
  explain(authority: string, path: string, search: string, req: HeaderSource): TableExplanation {
    const vh = this.#select(authority);
    const all = [...new Set([...this.#exact.values(), ...this.#suffix.map((e) => e[1]), ...this.#prefix.map((e) => e[1]), ...(this.#any ? [this.#any] : [])])];
    const host = authority.replace(/:\d+$/, '');
    const whyHost = (v: VirtualHost): string => {
      if (v.domains.includes(authority)) return `domain ${authority} is listed`;
      if (v.domains.includes(host)) return `domain ${host} is listed (the port is ignored when no domain names it)`;
      const w = v.domains.find((d) => d !== '*' && ((d.startsWith('*') && (authority.endsWith(d.slice(1)) || host.endsWith(d.slice(1)))) || (d.endsWith('*') && (authority.startsWith(d.slice(0, -1)) || host.startsWith(d.slice(0, -1))))));
      if (w) return `wildcard domain ${w} matches ${authority}`;
      return v.domains.includes('*') ? 'the catch-all domain *' : `none of its domains is ${authority}`;
    };
    const others = all.filter((v) => v !== vh).map((v) => {
      const why = whyHost(v);
      return { name: v.name, domains: v.domains, why: why.startsWith('none') ? why : `${why}, but ${vh?.name ?? '?'} is chosen first (exact domains, then the longest wildcard, then *)` };
    });
    if (!vh) return { routeConfig: this.name, virtualHost: undefined, otherVirtualHosts: others, routes: [], route: undefined };
    const routes: RouteVerdict[] = [];
    let route: CompiledRoute | undefined;
    for (const e of vh.routes) {
      if (route) {
        routes.push({ name: e.route.name, match: e.describe(), matched: false, notTried: true });
        continue;
      }
      const why = e.whyNot(path, req, search);
      if (why === undefined) route = e.route;
      routes.push({ name: e.route.name, match: e.describe(), matched: why === undefined, ...(why === undefined ? {} : { why }) });
    }
    return { routeConfig: this.name, virtualHost: { name: vh.name, domains: vh.domains, why: whyHost(vh) }, otherVirtualHosts: others, routes, route };
  }
}

/** Picks a cluster of a weighted split. */
export function pickWeighted(w: WeightedCluster): string {
  const r = Math.random() * w.cumulative[w.cumulative.length - 1]!;
  let i = 0;
  while (w.cumulative[i]! <= r) i++;
  return w.names[i]!;
}
