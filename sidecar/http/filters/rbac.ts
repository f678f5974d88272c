/**
 * Envoy's RBAC HTTP filter (envoy.extensions.filters.http.rbac.v3.RBAC), compiled once per
 * Listener into closures; a request runs only those. Filters apply in order: a DENY filter whose
 * policy matches denies; an ALLOW filter denies unless one of its policies matches. The decision
 * names the policy (`<namespace>/<name>/rules[<i>]` for what the control plane generates).
 *
 * Supported: permissions any, and_rules, or_rules, not_rule, header, url_path; principals any,
 * and_ids, or_ids, not_id, authenticated (principal_name = the peer's SPIFFE ID), header, url_path;
 * StringMatcher exact, prefix, suffix, contains, safe_regex (+ ignore_case). Anything else is a
 * NACK with its field path, never silently ignored.
 */
import { unpackAny } from '../../../common/wire-decode.js';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS } from '../../../common/extensions.js';
import { RBAC_Action, type Permission, type Principal } from '../../../proto/gen/envoy/config/rbac/v3/rbac_pb.js';
import type { HeaderMatcher } from '../../../proto/gen/envoy/config/route/v3/route_components_pb.js';
import { RBACSchema, type RBAC } from '../../../proto/gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js';
import type { Any } from '@bufbuild/protobuf/wkt';
import type { Filter, FilterContext, HttpFilterFactory } from '../filter.js';
import { respondError } from '../respond.js';
import type { StringMatcher } from '../../../proto/gen/envoy/type/matcher/v3/string_pb.js';
import type { Problems } from '../../xds/types/decoded.js';

export interface RbacRequest {
  method: string;
  /** Path without the query. */
  path: string;
  header(name: string): string | undefined;
  /** The peer's verified SPIFFE ID; undefined on plaintext. */
  principal: string | undefined;
}

export interface RbacDecision {
  allowed: boolean;
  /** The DENY policy that matched. */
  policy?: string;
  reason: string;
}

export interface RbacEngine {
  evaluate(r: RbacRequest): RbacDecision;
  /** The same decision, naming the ALLOW policy that let the request through too (`weft explain`; engines compiled here have it). */
  explain?(r: RbacRequest): RbacDecision;
  readonly policyCount: number;
}

type Pred = (r: RbacRequest) => boolean;

/** Whether any predicate holds (a loop: no closure per request). */
function anyOf(ps: readonly Pred[], r: RbacRequest): boolean {
  for (let i = 0; i < ps.length; i++) if (ps[i]!(r)) return true;
  return false;
}

function allOf(ps: readonly Pred[], r: RbacRequest): boolean {
  for (let i = 0; i < ps.length; i++) if (!ps[i]!(r)) return false;
  return true;
}
const ALWAYS: Pred = () => true;
const NEVER: Pred = () => false;
const ALLOWED: RbacDecision = Object.freeze({ allowed: true, reason: 'allowed' });

function str(m: StringMatcher | undefined, p: Problems, path: string): ((s: string) => boolean) | undefined {
  if (!m) return () => true;
  const ic = m.ignoreCase;
  const norm = (s: string) => (ic ? s.toLowerCase() : s);
  const v = m.matchPattern;
  switch (v.case) {
    case 'exact': {
      const want = norm(v.value);
      return (s) => norm(s) === want;
    }
    case 'prefix': {
      const want = norm(v.value);
      return (s) => norm(s).startsWith(want);
    }
    case 'suffix': {
      const want = norm(v.value);
      return (s) => norm(s).endsWith(want);
    }
    case 'contains': {
      const want = norm(v.value);
      return (s) => norm(s).includes(want);
    }
    case 'safeRegex': {
      try {
        const re = new RegExp(`^(?:${v.value.regex})$`, ic ? 'i' : '');
        return (s) => re.test(s);
      } catch (e) {
        p.add(`${path}.safe_regex.regex`, `invalid regex: ${(e as Error).message}`);
        return undefined;
      }
    }
    default:
      p.add(path, `unsupported string matcher '${v.case ?? 'unset'}'`);
      return undefined;
  }
}

function header(h: HeaderMatcher, p: Problems, path: string): Pred {
  const name = h.name.toLowerCase();
  const get = name === ':method' ? (r: RbacRequest) => r.method : name === ':path' ? (r: RbacRequest) => r.path : (r: RbacRequest) => r.header(name);
  let test: (v: string | undefined) => boolean;
  const s = h.headerMatchSpecifier;
  if (s.case === 'presentMatch') test = (v) => (v !== undefined) === s.value;
  else if (s.case === 'stringMatch') {
    const f = str(s.value, p, `${path}.string_match`) ?? (() => false);
    test = (v) => v !== undefined && f(v);
  } else if (s.case === 'exactMatch') test = (v) => v === s.value;
  else if (s.case === 'prefixMatch') test = (v) => v !== undefined && v.startsWith(s.value);
  else if (s.case === 'suffixMatch') test = (v) => v !== undefined && v.endsWith(s.value);
  else {
    p.add(path, `unsupported header matcher '${s.case ?? 'unset'}'`);
    return NEVER;
  }
  const inv = h.invertMatch;
  return (r) => test(get(r)) !== inv;
}

function urlPath(m: { rule: { case: string | undefined; value?: unknown } } | undefined, p: Problems, path: string): Pred {
  if (m?.rule.case !== 'path') {
    p.add(path, 'url_path needs path');
    return NEVER;
  }
  const f = str(m.rule.value as StringMatcher, p, `${path}.path`) ?? (() => false);
  return (r) => f(r.path);
}

function permission(x: Permission, p: Problems, path: string, l4 = false): Pred {
  const r = x.rule;
  switch (r.case) {
    case 'any':
      return ALWAYS;
    case 'andRules': {
      const all = r.value.rules.map((y, i) => permission(y, p, `${path}.and_rules.rules[${i}]`, l4));
      return (q) => allOf(all, q);
    }
    case 'orRules': {
      const any = r.value.rules.map((y, i) => permission(y, p, `${path}.or_rules.rules[${i}]`, l4));
      return (q) => anyOf(any, q);
    }
    case 'notRule': {
      const f = permission(r.value, p, `${path}.not_rule`, l4);
      return (q) => !f(q);
    }
    case 'header':
    case 'urlPath':
      // A connection has no headers or path: at layer 4 such a rule could never be evaluated.
      if (l4) return l4Only(p, path, r.case);
      return r.case === 'header' ? header(r.value, p, `${path}.header`) : urlPath(r.value, p, `${path}.url_path`);
    default:
      p.add(path, `unsupported permission '${r.case ?? 'unset'}'`);
      return NEVER;
  }
}

function principal(x: Principal, p: Problems, path: string, l4 = false): Pred {
  const r = x.identifier;
  switch (r.case) {
    case 'any':
      return ALWAYS;
    case 'andIds': {
      const all = r.value.ids.map((y, i) => principal(y, p, `${path}.and_ids.ids[${i}]`, l4));
      return (q) => allOf(all, q);
    }
    case 'orIds': {
      const any = r.value.ids.map((y, i) => principal(y, p, `${path}.or_ids.ids[${i}]`, l4));
      return (q) => anyOf(any, q);
    }
    case 'notId': {
      const f = principal(r.value, p, `${path}.not_id`, l4);
      return (q) => !f(q);
    }
    case 'authenticated': {
      const f = str(r.value.principalName, p, `${path}.authenticated.principal_name`) ?? (() => false);
      return (q) => q.principal !== undefined && f(q.principal);
    }
    case 'header':
    case 'urlPath':
      if (l4) return l4Only(p, path, r.case);
      return r.case === 'header' ? header(r.value, p, `${path}.header`) : urlPath(r.value, p, `${path}.url_path`);
    default:
      p.add(path, `unsupported principal '${r.case ?? 'unset'}'`);
      return NEVER;
  }
}

function l4Only(p: Problems, path: string, what: 'header' | 'urlPath'): Pred {
  p.add(`${path}.${what === 'header' ? 'header' : 'url_path'}`, 'is an HTTP condition; network RBAC (a TCP connection) has no headers or path');
  return NEVER;
}

export interface CompiledFilter {
  deny: boolean;
  noMatch: string;
  policies: Array<{ name: string; match: Pred }>;
}

/**
 * One RBAC filter's config, compiled (undefined: no rules, the filter does nothing, as in Envoy).
 * `l4`: the network filter's rules, where HTTP conditions (header, url_path) are refused.
 */
export function compileRules(cfg: Pick<RBAC, 'rules' | 'matcher' | 'shadowMatcher'>, p: Problems, base: string, l4 = false): CompiledFilter | undefined {
  if (cfg.matcher || cfg.shadowMatcher) p.add(`${base}.matcher`, 'the matcher API is not supported; use rules');
  const rules = cfg.rules;
  if (!rules) return undefined; // no rules: the filter does nothing (Envoy's behaviour)
  if (rules.action !== RBAC_Action.ALLOW && rules.action !== RBAC_Action.DENY) {
    p.add(`${base}.rules.action`, `unsupported action '${RBAC_Action[rules.action] ?? rules.action}' (ALLOW or DENY)`);
    return undefined;
  }
  const policies = Object.keys(rules.policies)
    .sort()
    .map((name) => {
      const pol = rules.policies[name]!;
      const pp = `${base}.rules.policies["${name}"]`;
      const perms = pol.permissions.map((x, j) => permission(x, p, `${pp}.permissions[${j}]`, l4));
      const princ = pol.principals.map((x, j) => principal(x, p, `${pp}.principals[${j}]`, l4));
      if (pol.condition || pol.checkedCondition) p.add(`${pp}.condition`, 'CEL conditions are not supported');
      // A policy matches when any permission and any principal match.
      return { name, match: (r: RbacRequest) => anyOf(perms, r) && anyOf(princ, r) };
    });
  const names = policies.map((x) => x.name);
  const noMatch = `no ALLOW policy matched (${names.length ? `${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}` : 'there are none: default deny'})`;
  return { deny: rules.action === RBAC_Action.DENY, policies, noMatch };
}

/** Filters applied in order: the first DENY match or ALLOW miss decides. */
export function engineOf(compiled: readonly CompiledFilter[]): RbacEngine {
  const count = compiled.reduce((n, c) => n + c.policies.length, 0);
  return {
    policyCount: count,
    evaluate(r: RbacRequest): RbacDecision {
      for (const c of compiled) {
        let hit: string | undefined;
        for (const pol of c.policies) {
          if (pol.match(r)) {
            hit = pol.name;
            break;
          }
        }
        if (c.deny && hit !== undefined) return { allowed: false, policy: hit, reason: `denied by ${hit}` };
        if (!c.deny && hit === undefined) return { allowed: false, reason: c.noMatch };
      }
      return ALLOWED;
    },
    explain(r: RbacRequest): RbacDecision {
      const allowedBy: string[] = [];
      for (const c of compiled) {
        const hit = c.policies.find((pol) => pol.match(r))?.name;
        if (c.deny && hit !== undefined) return { allowed: false, policy: hit, reason: `denied by ${hit}` };
        if (!c.deny && hit === undefined) return { allowed: false, reason: c.noMatch };
        if (!c.deny) allowedBy.push(hit!);
      }
      return allowedBy.length ? { allowed: true, policy: allowedBy.join(', '), reason: `allowed by ${allowedBy.join(', ')}` } : { allowed: true, reason: 'no DENY policy matched' };
    },
  };
}

/** An RBAC engine for one filter config (undefined: it has no rules and does nothing). */
export function compileRbac(any: Any, p: Problems, base: string): RbacEngine | undefined {
  const cfg = unpackAny(any, RBACSchema);
  const c = cfg ? compileRules(cfg, p, base) : undefined;
  return c ? engineOf([c]) : undefined;
}

/** The filter: a denial is answered 403 / PERMISSION_DENIED (respond.ts) and reported to the listener. */
function rbacFilter(engine: RbacEngine, ctx: FilterContext): Filter {
  const onDeny = ctx.onDeny;
  return (next) => (req, res, info) => {
    const decision = engine.evaluate(req);
    if (decision.allowed) {
      next(req, res, info);
      return;
    }
    onDeny?.(req, decision);
    respondError(req, res, info, 'RBAC_DENIED', `RBAC: access denied (${decision.reason})`);
  };
}

/** Envoy's RBAC filter (rules; the matcher API and per-route RBACPerRoute are refused). */
export const rbac: HttpFilterFactory<RbacEngine | undefined> = {
  extension: EXTENSIONS.rbac,
  parse: (any, p, path) => compileRbac(any, p, path),
  create: (engine, _perRoute, ctx) => (engine ? rbacFilter(engine, ctx) : undefined),
  explain(engine, _perRoute, req) {
    if (!engine) return undefined;
    const d = engine.explain?.(req) ?? engine.evaluate(req);
    const who = req.principal ? `peer ${req.principal}` : 'no peer identity (plaintext)';
    return { effect: d.allowed ? 'allow' : 'deny', detail: `${d.reason} (${who}; ${d.allowed ? 'passes' : '403 RBAC_DENIED'})`, ...(d.allowed ? {} : { refuses: `${req.grpc ? 'gRPC 7 PERMISSION_DENIED' : '403'} RBAC_DENIED` }) };
  },
};
