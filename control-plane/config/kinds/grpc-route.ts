/** GRPCRoute (Gateway API shape): matches on gRPC service/method and headers. */
import type { GRPCMethodMatch, GRPCRouteFilter, GRPCRouteRule, GRPCRouteSpec } from '../types.js';
import type { Reader } from '../schema.js';
import { cleanRetry, readBackendRef, readHeaderMatches, readParentRefs, readRetry, HOSTNAME, readTimeouts, routeReferences, parentName, checkRuleFilters } from './route-common.js';
import { API_VERSION_GATEWAY } from '../api-versions.js';
import type { KindDefinition } from './kind.js';
import { readRouteFilter } from './http-route.js';

const GRPC_FILTERS = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror', 'ExtensionRef'] as const;

function readMethod(r: Reader, v: unknown, p: string): GRPCMethodMatch | undefined {
  const o = r.obj(v, p, ['type', 'service', 'method']);
  if (!o) return undefined;
  const type = (r.str(o.type, `${p}.type`, { oneOf: ['Exact', 'RegularExpression'] }) ?? 'Exact') as GRPCMethodMatch['type'];
  const exact = type === 'Exact';
  const service = exact
    ? r.str(o.service, `${p}.service`, { pattern: /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, patternHelp: 'a fully qualified gRPC service (e.g. helloworld.Greeter)' })
    : o.service === undefined ? undefined : r.regex(o.service, `${p}.service`);
  const method = exact
    ? r.str(o.method, `${p}.method`, { pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, patternHelp: 'a method name' })
    : o.method === undefined ? undefined : r.regex(o.method, `${p}.method`);
  if (o.service === undefined && o.method === undefined) r.err(p, 'needs service, method or both');
  const m: GRPCMethodMatch = { type };
  if (service) m.service = service;
  if (method) m.method = method;
  return m;
}

export function readGRPCRoute(r: Reader, v: unknown, ns: string): GRPCRouteSpec | undefined {
  const o = r.obj(v, 'spec', ['parentRefs', 'hostnames', 'rules'], ['parentRefs']);
  if (!o) return undefined;
  const parentRefs = readParentRefs(r, o.parentRefs, 'spec.parentRefs', ns);
  const hostnames = r.arr(o.hostnames, 'spec.hostnames', (x, p) => r.str(x, p, { pattern: HOSTNAME, patternHelp: 'a host name, optionally *.-prefixed' }));
  const rules = r.arr(o.rules, 'spec.rules', (x, p): GRPCRouteRule | undefined => {
    const ro = r.obj(x, p, ['matches', 'filters', 'backendRefs', 'timeouts', 'retry'], ['backendRefs']);
    if (!ro) return undefined;
    const matches = r.arr(ro.matches, `${p}.matches`, (m, q) => {
      const mo = r.obj(m, q, ['method', 'headers']);
      if (!mo) return undefined;
      const method = mo.method === undefined ? undefined : readMethod(r, mo.method, `${q}.method`);
      const headers = readHeaderMatches(r, mo.headers, `${q}.headers`, 'header');
      return method ? { method, headers } : { headers };
    });
    const filters = r.arr(ro.filters, `${p}.filters`, (f, q) => readRouteFilter(r, f, q, ns, GRPC_FILTERS) as GRPCRouteFilter | undefined);
    checkRuleFilters(r, filters, `${p}.filters`);
    const rule: GRPCRouteRule = {
      matches,
      filters,
      backendRefs: r.arr(ro.backendRefs, `${p}.backendRefs`, (b, q) => readBackendRef(r, b, q, ns), { nonEmpty: true }),
    };
    const timeouts = readTimeouts(r, ro.timeouts, `${p}.timeouts`);
    const retry = cleanRetry(readRetry(r, ro.retry, `${p}.retry`));
    if (timeouts) rule.timeouts = timeouts;
    if (retry) rule.retry = retry;
    return rule;
  }, { nonEmpty: true });
  return { parentRefs, hostnames, rules };
}

export const grpcRouteKind: KindDefinition<'GRPCRoute'> = {
  kind: 'GRPCRoute',
  apiVersions: [API_VERSION_GATEWAY, 'gateway.networking.k8s.io/v1alpha2'],
  plural: 'grpcroutes',
  shortNames: [],
  read: (r, spec, ns) => readGRPCRoute(r, spec, ns),
  references: routeReferences,
  addToModel: (b, res) => void b.grpcRoutes.push(res),
  summary: (res) => `parents ${res.spec.parentRefs.map(parentName).join(',')}; rules ${res.spec.rules.length}`,
};
