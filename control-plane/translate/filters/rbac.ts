/**
 * AuthorizationPolicy -> Envoy RBAC HTTP filters for a service's inbound listener, Istio's way:
 * one filter with action DENY holding every DENY rule (checked first), then, when the service has
 * ALLOW policies or MeshConfig says defaultAction: DENY, one filter with action ALLOW holding every
 * ALLOW rule (no rules: nothing is allowed). Each rule becomes one RBAC policy named
 * `<namespace>/<policy>/rules[<i>]`, which is what a denial's log line names.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { RBAC_Action, type PermissionSchema, type PrincipalSchema, type PolicySchema } from '../../../proto/gen/envoy/config/rbac/v3/rbac_pb.js';
import { EXTENSIONS, typedExtension } from '../../../common/extensions.js';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { AuthorizationPolicyResource, AuthzRule, MeshModel, NameMatch } from '../../config/types.js';
import type { HttpFilterTranslation } from './filter.js';

type PermissionInit = MessageInitShape<typeof PermissionSchema>;
type PrincipalInit = MessageInitShape<typeof PrincipalSchema>;
type PolicyInit = MessageInitShape<typeof PolicySchema>;
type StringMatcherInit = { matchPattern: { case: 'exact' | 'prefix' | 'suffix'; value: string } | { case: 'safeRegex'; value: { regex: string } } };

/** `*` -> undefined (anything), `a*` prefix, `*a` suffix, else exact. */
function stringMatcher(m: NameMatch): StringMatcherInit | undefined {
  if (m === '*') return undefined;
  if (m.endsWith('*')) return { matchPattern: { case: 'prefix', value: m.slice(0, -1) } };
  if (m.startsWith('*')) return { matchPattern: { case: 'suffix', value: m.slice(1) } };
  return { matchPattern: { case: 'exact', value: m } };
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// Principals (who): authenticated principal name = the peer's SPIFFE ID.
function principalName(m: NameMatch): PrincipalInit {
  const sm = stringMatcher(m);
  return { identifier: { case: 'authenticated', value: sm ? { principalName: sm } : {} } };
}
function namespacePrincipal(m: NameMatch): PrincipalInit {
  const ns = m === '*' ? '[^/]+' : m.endsWith('*') ? `${escapeRe(m.slice(0, -1))}[^/]*` : m.startsWith('*') ? `[^/]*${escapeRe(m.slice(1))}` : escapeRe(m);
  return { identifier: { case: 'authenticated', value: { principalName: { matchPattern: { case: 'safeRegex', value: { regex: `^spiffe://[^/]+/ns/${ns}/sa/[^/]+$` } } } } } };
}
const orIds = (ids: PrincipalInit[]): PrincipalInit => (ids.length === 1 ? ids[0]! : { identifier: { case: 'orIds', value: { ids } } });
const andIds = (ids: PrincipalInit[]): PrincipalInit => (ids.length === 0 ? { identifier: { case: 'any', value: true } } : ids.length === 1 ? ids[0]! : { identifier: { case: 'andIds', value: { ids } } });
const notId = (id: PrincipalInit): PrincipalInit => ({ identifier: { case: 'notId', value: id } });
function headerPrincipal(name: string, m: NameMatch): PrincipalInit {
  const sm = stringMatcher(m);
  return { identifier: { case: 'header', value: { name, headerMatchSpecifier: sm ? { case: 'stringMatch', value: sm } : { case: 'presentMatch', value: true } } } };
}

// Permissions (what): path and method.
const orRules = (rules: PermissionInit[]): PermissionInit => (rules.length === 1 ? rules[0]! : { rule: { case: 'orRules', value: { rules } } });
const andRules = (rules: PermissionInit[]): PermissionInit => (rules.length === 0 ? { rule: { case: 'any', value: true } } : rules.length === 1 ? rules[0]! : { rule: { case: 'andRules', value: { rules } } });
const notRule = (r: PermissionInit): PermissionInit => ({ rule: { case: 'notRule', value: r } });
function pathPermission(m: NameMatch): PermissionInit {
  const sm = stringMatcher(m);
  if (!sm) return { rule: { case: 'any', value: true } };
  return { rule: { case: 'urlPath', value: { rule: { case: 'path', value: sm } } } };
}
const methodPermission = (m: string): PermissionInit => ({ rule: { case: 'header', value: { name: ':method', headerMatchSpecifier: { case: 'stringMatch', value: { matchPattern: { case: 'exact', value: m } } } } } });

function policyOf(rule: AuthzRule): PolicyInit {
  // Sources and conditions are principals (AND of the rule's parts; OR within a list).
  const fromParts: PrincipalInit[] = rule.from.map((s) => {
    const all: PrincipalInit[] = [];
    if (s.principals) all.push(orIds(s.principals.map(principalName)));
    if (s.notPrincipals) all.push(notId(orIds(s.notPrincipals.map(principalName))));
    if (s.namespaces) all.push(orIds(s.namespaces.map(namespacePrincipal)));
    if (s.notNamespaces) all.push(notId(orIds(s.notNamespaces.map(namespacePrincipal))));
    return andIds(all);
  });
  const whenParts: PrincipalInit[] = rule.when.map((c) => {
    const all: PrincipalInit[] = [];
    if (c.values) all.push(orIds(c.values.map((v) => headerPrincipal(c.header, v))));
    if (c.notValues) all.push(notId(orIds(c.notValues.map((v) => headerPrincipal(c.header, v)))));
    return andIds(all);
  });
  const principal = andIds([...(fromParts.length ? [orIds(fromParts)] : []), ...whenParts]);
  const toParts: PermissionInit[] = rule.to.map((o) => {
    const all: PermissionInit[] = [];
    if (o.paths) all.push(orRules(o.paths.map(pathPermission)));
    if (o.notPaths) all.push(notRule(orRules(o.notPaths.map(pathPermission))));
    if (o.methods) all.push(orRules(o.methods.map(methodPermission)));
    if (o.notMethods) all.push(notRule(orRules(o.notMethods.map(methodPermission))));
    return andRules(all);
  });
  const permission = toParts.length ? orRules(toParts) : { rule: { case: 'any' as const, value: true } };
  return { permissions: [permission], principals: [principal] };
}

/** The policies that apply to `namespace/service`, DENY and ALLOW. */
export function policiesFor(model: MeshModel, namespace: string, service: string): AuthorizationPolicyResource[] {
  return model.authorizationPolicies.filter((p) => p.metadata.namespace === namespace && (p.spec.service === '*' || p.spec.service === service));
}

function filter(action: RBAC_Action, policies: AuthorizationPolicyResource[]): HttpFilter {
  const map: Record<string, PolicyInit> = {};
  for (const p of policies) p.spec.rules.forEach((rule, i) => (map[`${p.metadata.namespace}/${p.metadata.name}/rules[${i}]`] = policyOf(rule)));
  return typedExtension(EXTENSIONS.rbac, { rules: { action, policies: map } }) as HttpFilter;
}

/** RBAC filters for the inbound listener of `namespace/service` (empty: everything allowed). */
export function rbacFilters(model: MeshModel, namespace: string, service: string): HttpFilter[] {
  const ps = policiesFor(model, namespace, service);
  const deny = ps.filter((p) => p.spec.action === 'DENY');
  const allow = ps.filter((p) => p.spec.action === 'ALLOW');
  const out: HttpFilter[] = [];
  if (deny.length) out.push(filter(RBAC_Action.DENY, deny));
  if (allow.length || model.mesh.authorization.defaultAction === 'DENY') out.push(filter(RBAC_Action.ALLOW, allow));
  return out;
}

/**
 * A rule as it applies to a TCP connection, Istio's way: `to` (paths, methods) and `when`
 * (headers) need a request, which a connection does not have. Both ways fail closed: an ALLOW
 * rule with them never matches (undefined: left out, so it lets nobody in), a DENY rule with
 * them matches on its `from` alone (everything, when it has no `from`).
 */
function tcpRule(rule: AuthzRule, action: 'ALLOW' | 'DENY'): AuthzRule | undefined {
  if (!rule.to.length && !rule.when.length) return rule;
  return action === 'ALLOW' ? undefined : { from: rule.from, to: [], when: [] };
}

function networkFilter(action: 'ALLOW' | 'DENY', policies: AuthorizationPolicyResource[]) {
  const map: Record<string, PolicyInit> = {};
  for (const p of policies) {
    p.spec.rules.forEach((rule, i) => {
      const r = tcpRule(rule, action);
      if (r) map[`${p.metadata.namespace}/${p.metadata.name}/rules[${i}]`] = policyOf(r);
    });
  }
  return typedExtension(EXTENSIONS.networkRbac, { statPrefix: 'inbound', rules: { action: action === 'DENY' ? RBAC_Action.DENY : RBAC_Action.ALLOW, policies: map } });
}

/**
 * Network RBAC filters (envoy.filters.network.rbac) for the inbound listener of tcp service
 * `namespace/service`, before its tcp_proxy: DENY then ALLOW, built as rbacFilters builds the HTTP
 * ones, with each rule as tcpRule reads it (empty: every peer allowed).
 */
export function networkRbacFilters(model: MeshModel, namespace: string, service: string): ReturnType<typeof typedExtension>[] {
  const ps = policiesFor(model, namespace, service);
  const deny = ps.filter((p) => p.spec.action === 'DENY');
  const allow = ps.filter((p) => p.spec.action === 'ALLOW');
  const out: ReturnType<typeof typedExtension>[] = [];
  if (deny.length) out.push(networkFilter('DENY', deny));
  if (allow.length || model.mesh.authorization.defaultAction === 'DENY') out.push(networkFilter('ALLOW', allow));
  return out;
}

/** envoy.filters.http.rbac on a sidecar's inbound listener. */
export const rbac: HttpFilterTranslation = {
  name: EXTENSIONS.rbac.name,
  listenerFilters: (ctx) => (ctx.side === 'inbound' && ctx.service ? rbacFilters(ctx.model, ctx.namespace, ctx.service) : []),
};
