/**
 * Weft's scope and claim check on the verified JWT (weft.filters.http.jwt_claims, weft/v1/jwt.proto):
 * Envoy's jwt_authn verifies tokens but has no field for "this route needs scope X", so the
 * control plane puts this filter right after it. The listener-level config has no options; a
 * route's JwtClaimsPerRoute turns it on there:
 *  - every scope listed must be granted, by the `scope` claim (space-separated) or `scp` (a
 *    string or an array of strings);
 *  - every claim listed (a dotted path) must equal one of its values, or be an array holding one.
 * A request with a verified JWT that falls short gets 403 JWT_FORBIDDEN with RFC 6750's
 * `error="insufficient_scope"` (and the scopes the route needs); one without a verified JWT gets
 * 401 JWT_MISSING (the control plane never pairs claims with an optional token; another config
 * that does is refused per request rather than let through).
 */
import { unpackAny } from '../../../common/wire-decode.js';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS } from '../../../common/extensions.js';
import { checkSupported, supportedFields } from '../../xds/types/supported.js';
import type { Filter, HttpFilterFactory } from '../filter.js';
import { claimAt } from '../jwt/claims.js';
import { respondForbidden, respondMissing } from '../jwt/challenge.js';
import { noOptions } from './no-options.js';

const FIELDS = supportedFields({
  'weft.v1.JwtClaimsPerRoute': ['scopes', 'claims'],
  'weft.v1.JwtClaimMatch': ['name', 'values'],
});

export interface ClaimsRule {
  readonly scopes: readonly string[];
  readonly claims: ReadonlyArray<{ readonly name: string; readonly path: readonly string[]; readonly values: ReadonlySet<string> }>;
}

function granted(payload: Readonly<Record<string, unknown>>, scope: string): boolean {
  const s = payload.scope;
  if (typeof s === 'string' && s.split(' ').includes(scope)) return true;
  const scp = payload.scp;
  if (typeof scp === 'string') return scp.split(' ').includes(scope);
  return Array.isArray(scp) && scp.includes(scope);
}

function matches(v: unknown, values: ReadonlySet<string>): boolean {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return values.has(String(v));
  return Array.isArray(v) && v.some((x) => (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean') && values.has(String(x)));
}

function claimsFilter(rule: ClaimsRule): Filter {
  return (next) => (req, res, info) => {
    // A sub-request carries its composed request's token, judged there.
    if (info.parent !== undefined) return next(req, res, info);
    const jwt = info.jwt;
    if (!jwt) return respondMissing(req, res, info);
    for (const s of rule.scopes) if (!granted(jwt.payload, s)) return respondForbidden(req, res, info, `Jwt lacks the scope '${s}'`, rule.scopes);
    for (const c of rule.claims) if (!matches(claimAt(jwt.payload, c.path), c.values)) return respondForbidden(req, res, info, `Jwt claim '${c.name}' is not one the route accepts`, rule.scopes);
    next(req, res, info);
  };
}

export const jwtClaims: HttpFilterFactory<true, ClaimsRule> = {
  extension: EXTENSIONS.jwtClaims,
  parse: noOptions(EXTENSIONS.jwtClaims),
  perRoute: {
    schema: EXTENSIONS.jwtClaimsPerRoute.schema,
    parse(any, p, path) {
      const m = unpackAny(any, EXTENSIONS.jwtClaimsPerRoute.schema);
      if (!m) {
        p.add(path, 'is not a JwtClaimsPerRoute');
        return undefined;
      }
      checkSupported(EXTENSIONS.jwtClaimsPerRoute.schema, m, FIELDS, p, path);
      m.scopes.forEach((s, i) => {
        if (!/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(s)) p.add(`${path}.scopes[${i}]`, `'${s}' is not a scope-token`);
      });
      m.claims.forEach((c, i) => {
        if (!c.name) p.add(`${path}.claims[${i}].name`, 'is required');
        if (!c.values.length) p.add(`${path}.claims[${i}].values`, 'must not be empty (a claim no value satisfies refuses every request)');
      });
      return Object.freeze({ scopes: [...m.scopes], claims: m.claims.map((c) => ({ name: c.name, path: c.name.split('.'), values: new Set(c.values) })) });
    },
  },
  create: (_cfg, rule) => (rule && (rule.scopes.length || rule.claims.length) ? claimsFilter(rule) : undefined),
  explain: (_cfg, rule) =>
    rule && (rule.scopes.length || rule.claims.length)
      ? { effect: 'requires', detail: `the verified JWT must grant ${[...rule.scopes.map((x) => `scope ${x}`), ...rule.claims.map((c) => `claim ${c.name} in {${[...c.values].join(', ')}}`)].join(' and ')} (checked when the request is sent; otherwise 403)` }
      : undefined,
};
