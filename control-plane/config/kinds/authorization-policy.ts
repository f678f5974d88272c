/**
 * AuthorizationPolicy: who may call a service, Istio-style. DENY policies are checked first; if a
 * service has any ALLOW policy (or MeshConfig says defaultAction: DENY) a request must match one.
 * A rule matches when all of its given `from`, `to` and `when` parts match; within a list, any
 * entry. Strings match exactly, by `prefix*`, by `*suffix`, or `*` for anything.
 */
import type { AuthorizationPolicySpec, AuthzCondition, AuthzOperation, AuthzRule, AuthzSource, NameMatch } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import type { KindDefinition } from './kind.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE'];
const HEADER = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

function matches(r: Reader, v: unknown, path: string): NameMatch[] | undefined {
  if (v === undefined) return undefined;
  const out = r.arr(v, path, (x, p) => {
    const s = r.str(x, p, { required: true, nonEmpty: true });
    if (s === undefined) return undefined;
    const inner = s.length > 1 ? s.slice(1, -1) : '';
    if (inner.includes('*')) {
      r.err(p, `'${s}': '*' may only be the whole value, a prefix (…*) or a suffix (*…)`);
      return undefined;
    }
    return s;
  }, { nonEmpty: true });
  return out;
}

function methods(r: Reader, v: unknown, path: string): string[] | undefined {
  if (v === undefined) return undefined;
  return r.arr(v, path, (x, p) => r.str(x, p, { required: true, oneOf: METHODS }), { nonEmpty: true });
}

export function readAuthorizationPolicy(r: Reader, v: unknown): AuthorizationPolicySpec | undefined {
  const o = r.obj(v, 'spec', ['service', 'action', 'rules'], ['service', 'action']);
  if (!o) return undefined;
  const service = r.str(o.service, 'spec.service', { required: true, pattern: /^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$/, patternHelp: "a service name or '*'" }) ?? '';
  const action = (r.str(o.action, 'spec.action', { required: true, oneOf: ['ALLOW', 'DENY'] }) ?? 'ALLOW') as 'ALLOW' | 'DENY';
  const rules = r.arr(o.rules ?? [], 'spec.rules', (x, p): AuthzRule | undefined => {
    const ro = r.obj(x, p, ['from', 'to', 'when']);
    if (!ro) return undefined;
    const from = r.arr(ro.from ?? [], `${p}.from`, (y, q): AuthzSource | undefined => {
      const so = r.obj(y, q, ['principals', 'notPrincipals', 'namespaces', 'notNamespaces']);
      if (!so) return undefined;
      const s: AuthzSource = {};
      for (const k of ['principals', 'notPrincipals', 'namespaces', 'notNamespaces'] as const) {
        const m = matches(r, so[k], `${q}.${k}`);
        if (m) s[k] = m;
      }
      if (!Object.keys(s).length) r.err(q, 'needs at least one of principals, notPrincipals, namespaces, notNamespaces');
      return s;
    });
    const to = r.arr(ro.to ?? [], `${p}.to`, (y, q): AuthzOperation | undefined => {
      const oo = r.obj(y, q, ['paths', 'notPaths', 'methods', 'notMethods']);
      if (!oo) return undefined;
      const op: AuthzOperation = {};
      for (const k of ['paths', 'notPaths'] as const) {
        const m = matches(r, oo[k], `${q}.${k}`);
        if (m) {
          m.forEach((x, i) => !x.startsWith('/') && !x.startsWith('*') && r.err(`${q}.${k}[${i}]`, `'${x}' must start with '/' (or be a *suffix)`));
          op[k] = m;
        }
      }
      for (const k of ['methods', 'notMethods'] as const) {
        const m = methods(r, oo[k], `${q}.${k}`);
        if (m) op[k] = m;
      }
      if (!Object.keys(op).length) r.err(q, 'needs at least one of paths, notPaths, methods, notMethods');
      return op;
    });
    const when = r.arr(ro.when ?? [], `${p}.when`, (y, q): AuthzCondition | undefined => {
      const co = r.obj(y, q, ['header', 'values', 'notValues'], ['header']);
      if (!co) return undefined;
      const header = r.str(co.header, `${q}.header`, { required: true, pattern: HEADER, patternHelp: 'a lowercase HTTP header name' });
      const c: AuthzCondition = { header: header ?? '' };
      const values = matches(r, co.values, `${q}.values`);
      const notValues = matches(r, co.notValues, `${q}.notValues`);
      if (values) c.values = values;
      if (notValues) c.notValues = notValues;
      if (!values && !notValues) r.err(q, 'needs values or notValues');
      return c;
    });
    return { from, to, when };
  });
  return { service, action, rules };
}

export const authorizationPolicyKind: KindDefinition<'AuthorizationPolicy'> = {
  kind: 'AuthorizationPolicy',
  apiVersions: [API_VERSION_WEFT],
  plural: 'authorizationpolicies',
  shortNames: ['authz'],
  read: (r, spec) => readAuthorizationPolicy(r, spec),
  addToModel: (b, res) => void b.authorizationPolicies.push(res),
  summary: (res) => `${res.spec.action} to ${res.spec.service}; rules ${res.spec.rules.length}`,
};
