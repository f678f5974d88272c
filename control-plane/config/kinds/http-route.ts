/** HTTPRoute (Gateway API shape), attached to a Service through parentRefs as in GAMMA. */
import type { HTTPRouteFilter, HTTPRouteMatch, HTTPRouteRule, HTTPRouteSpec } from '../types.js';
import type { Reader } from '../schema.js';
import { cleanRetry, readBackendRef, readHeaderMatches, readHeaderModifier, readMirror, readParentRefs, HOSTNAME, readRetry, readTimeouts, routeReferences, parentName, readExtensionRef, checkRuleFilters } from './route-common.js';
import { API_VERSION_GATEWAY } from '../api-versions.js';
import { readCorsFilter } from './cors-policy.js';
import type { KindDefinition } from './kind.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];
const FILTERS = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'URLRewrite', 'RequestRedirect', 'RequestMirror', 'ExtensionRef', 'CORS'] as const;
const KEY: Record<(typeof FILTERS)[number], string> = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  URLRewrite: 'urlRewrite',
  RequestRedirect: 'requestRedirect',
  RequestMirror: 'requestMirror',
  ExtensionRef: 'extensionRef',
  CORS: 'cors',
};

function readPathModifier(r: Reader, v: unknown, p: string) {
  const o = r.obj(v, p, ['type', 'replaceFullPath', 'replacePrefixMatch'], ['type']);
  if (!o) return undefined;
  const type = r.str(o.type, `${p}.type`, { oneOf: ['ReplaceFullPath', 'ReplacePrefixMatch'] });
  if (type === 'ReplaceFullPath') {
    const s = r.str(o.replaceFullPath, `${p}.replaceFullPath`, { required: true, pattern: /^\//, patternHelp: 'a path starting with /' });
    return s === undefined ? undefined : { type: 'ReplaceFullPath' as const, replaceFullPath: s };
  }
  if (type === 'ReplacePrefixMatch') {
    const s = r.str(o.replacePrefixMatch, `${p}.replacePrefixMatch`, { required: true, pattern: /^\//, patternHelp: 'a path starting with /' });
    return s === undefined ? undefined : { type: 'ReplacePrefixMatch' as const, replacePrefixMatch: s };
  }
  return undefined;
}

export type FilterType = (typeof FILTERS)[number];

/** One route filter: `type` plus exactly its config key. GRPCRoute passes the subset it allows. */
export function readRouteFilter(r: Reader, x: unknown, p: string, ns: string, allowed: readonly FilterType[] = FILTERS): HTTPRouteFilter | undefined {
  const type = r.str((x as { type?: unknown } | null)?.type, `${p}.type`, { required: true, oneOf: allowed }) as FilterType | undefined;
  const o = r.obj(x, p, type ? ['type', KEY[type]] : ['type', ...allowed.map((a) => KEY[a])], type ? ['type', KEY[type]] : ['type']);
  if (!o || !type) return undefined;
  const q = `${p}.${KEY[type]}`;
  switch (type) {
    case 'RequestHeaderModifier':
      return { type, requestHeaderModifier: readHeaderModifier(r, o.requestHeaderModifier, q) };
    case 'ResponseHeaderModifier':
      return { type, responseHeaderModifier: readHeaderModifier(r, o.responseHeaderModifier, q) };
    case 'URLRewrite': {
      const u = r.obj(o.urlRewrite, q, ['hostname', 'path']) ?? {};
      const hostname = r.str(u.hostname, `${q}.hostname`, { nonEmpty: true });
      const path = u.path === undefined ? undefined : readPathModifier(r, u.path, `${q}.path`);
      return { type, urlRewrite: { ...(hostname ? { hostname } : {}), ...(path ? { path } : {}) } };
    }
    case 'RequestRedirect': {
      const u = r.obj(o.requestRedirect, q, ['scheme', 'hostname', 'port', 'path', 'statusCode']) ?? {};
      const scheme = r.str(u.scheme, `${q}.scheme`, { oneOf: ['http', 'https'] }) as 'http' | 'https' | undefined;
      const hostname = r.str(u.hostname, `${q}.hostname`, { nonEmpty: true });
      const port = r.int(u.port, `${q}.port`, 1, 65535);
      const path = u.path === undefined ? undefined : readPathModifier(r, u.path, `${q}.path`);
      let statusCode = r.int(u.statusCode, `${q}.statusCode`, 300, 399) ?? 302;
      if (![301, 302, 303, 307, 308].includes(statusCode)) {
        r.err(`${q}.statusCode`, 'must be 301, 302, 303, 307 or 308');
        statusCode = 302;
      }
      return { type, requestRedirect: { ...(scheme ? { scheme } : {}), ...(hostname ? { hostname } : {}), ...(port ? { port } : {}), ...(path ? { path } : {}), statusCode } };
    }
    case 'RequestMirror': {
      // Sidecars mirror (Envoy request_mirror_policies); proxyless gRPC clients do not, and are sent routes without it.
      const requestMirror = readMirror(r, o.requestMirror, q, ns);
      return requestMirror ? { type, requestMirror } : undefined;
    }
    case 'ExtensionRef': {
      const extensionRef = readExtensionRef(r, o.extensionRef, q);
      return extensionRef ? { type, extensionRef } : undefined;
    }
    case 'CORS': {
      const cors = readCorsFilter(r, o.cors, q);
      return cors ? { type, cors } : undefined;
    }
  }
}

function readMatch(r: Reader, x: unknown, p: string): HTTPRouteMatch | undefined {
  const o = r.obj(x, p, ['path', 'headers', 'queryParams', 'method']);
  if (!o) return undefined;
  const m: HTTPRouteMatch = { headers: readHeaderMatches(r, o.headers, `${p}.headers`, 'header'), queryParams: readHeaderMatches(r, o.queryParams, `${p}.queryParams`, 'query') };
  const po = r.obj(o.path, `${p}.path`, ['type', 'value']);
  if (po) {
    const type = (r.str(po.type, `${p}.path.type`, { oneOf: ['PathPrefix', 'Exact', 'RegularExpression'] }) ?? 'PathPrefix') as NonNullable<HTTPRouteMatch['path']>['type'];
    const raw = po.value ?? '/';
    const value = type === 'RegularExpression' ? r.regex(raw, `${p}.path.value`) : r.str(raw, `${p}.path.value`, { pattern: /^\//, patternHelp: 'a path starting with /' });
    if (value !== undefined) m.path = { type, value };
  }
  const method = r.str(o.method, `${p}.method`, { oneOf: METHODS });
  if (method) m.method = method;
  return m;
}

/**
 * A rule answered by an AggregationPolicy: the gateway composes the answer from the policy's
 * calls, so nothing of the rule that shapes a forwarded request would have an effect.
 */
function checkAggregateRule(r: Reader, ro: Record<string, unknown>, filters: readonly HTTPRouteFilter[], backends: number, p: string): void {
  if (backends) r.err(`${p}.backendRefs`, 'must be empty when an AggregationPolicy answers the request (its calls name the upstreams)');
  if (ro.timeouts !== undefined) r.err(`${p}.timeouts`, "is not used when an AggregationPolicy answers the request (each call has its own timeout)");
  if (ro.retry !== undefined) r.err(`${p}.retry`, 'is not used when an AggregationPolicy answers the request (each call is retried by its own route)');
  filters.forEach((f, i) => {
    if (f.type !== 'ExtensionRef' && f.type !== 'CORS') r.err(`${p}.filters[${i}]`, `${f.type} cannot be combined with an AggregationPolicy: the request is answered at the gateway, not forwarded`);
    // Their filters run after the aggregation's in the chain (translate/filters/index.ts): they would never see the request.
    else if (f.type === 'ExtensionRef' && (f.extensionRef.kind === 'FaultPolicy' || f.extensionRef.kind === 'CachePolicy')) {
      r.err(`${p}.filters[${i}]`, `a ${f.extensionRef.kind} cannot be combined with an AggregationPolicy: the aggregation answers before it runs (put it on the routes the calls reach)`);
    }
  });
}

export function readHTTPRoute(r: Reader, v: unknown, ns: string): HTTPRouteSpec | undefined {
  const o = r.obj(v, 'spec', ['parentRefs', 'hostnames', 'rules'], ['parentRefs']);
  if (!o) return undefined;
  const parentRefs = readParentRefs(r, o.parentRefs, 'spec.parentRefs', ns);
  const hostnames = r.arr(o.hostnames, 'spec.hostnames', (x, p) => r.str(x, p, { pattern: HOSTNAME, patternHelp: 'a host name, optionally *.-prefixed' }));
  const rules = r.arr(o.rules, 'spec.rules', (x, p): HTTPRouteRule | undefined => {
    const ro = r.obj(x, p, ['matches', 'filters', 'backendRefs', 'timeouts', 'retry']);
    if (!ro) return undefined;
    const matches = r.arr(ro.matches, `${p}.matches`, (m, q) => readMatch(r, m, q), { max: 64 });
    const filters = r.arr(ro.filters, `${p}.filters`, (f, q) => readRouteFilter(r, f, q, ns));
    checkRuleFilters(r, filters, `${p}.filters`);
    const backendRefs = r.arr(ro.backendRefs, `${p}.backendRefs`, (b, q) => readBackendRef(r, b, q, ns));
    const redirect = filters.some((f) => f.type === 'RequestRedirect');
    if (redirect && backendRefs.length) r.err(`${p}.backendRefs`, 'must be empty when a RequestRedirect filter answers the request');
    const aggregate = filters.some((f) => f.type === 'ExtensionRef' && f.extensionRef.kind === 'AggregationPolicy');
    if (aggregate) checkAggregateRule(r, ro, filters, backendRefs.length, p);
    // A mirror copies a request that goes upstream; a redirect answers it here (Envoy has no mirror on a redirect).
    if (redirect) filters.forEach((f, i) => f.type === 'RequestMirror' && r.err(`${p}.filters[${i}]`, 'RequestMirror cannot be combined with RequestRedirect: a redirected request never goes upstream'));
    if (!redirect && !aggregate && ro.backendRefs === undefined) r.err(`${p}.backendRefs`, 'is required (or add a RequestRedirect filter)');
    filters.forEach((f, i) => {
      if (f.type === 'URLRewrite' && f.urlRewrite.path?.type === 'ReplacePrefixMatch' && matches.some((m) => m.path && m.path.type !== 'PathPrefix')) {
        r.err(`${p}.filters[${i}].urlRewrite.path`, 'ReplacePrefixMatch needs every match to be a PathPrefix match');
      }
    });
    const rule: HTTPRouteRule = { matches, filters, backendRefs };
    const timeouts = readTimeouts(r, ro.timeouts, `${p}.timeouts`);
    const retry = cleanRetry(readRetry(r, ro.retry, `${p}.retry`));
    if (timeouts) rule.timeouts = timeouts;
    if (retry) rule.retry = retry;
    return rule;
  }, { nonEmpty: true });
  return { parentRefs, hostnames, rules };
}

export const httpRouteKind: KindDefinition<'HTTPRoute'> = {
  kind: 'HTTPRoute',
  apiVersions: [API_VERSION_GATEWAY],
  plural: 'httproutes',
  shortNames: [],
  read: (r, spec, ns) => readHTTPRoute(r, spec, ns),
  references: routeReferences,
  addToModel: (b, res) => void b.httpRoutes.push(res),
  summary: (res) => `parents ${res.spec.parentRefs.map(parentName).join(',')}; rules ${res.spec.rules.length}`,
};
