/**
 * CorsPolicy (weft.dev/v1alpha1, namespaced): cross-origin resource sharing answered at the
 * gateway. It applies to the HTTPRoute / GRPCRoute rules that name it in an ExtensionRef filter,
 * and to every route of the Gateways / listeners its `spec.targetRefs` name; a rule's own policy
 * wins over the Gateway's (policy-attachment.ts). Translated to Envoy's CORS filter, first in the
 * gateway listener's chain (translate/filters/cors.ts).
 *
 * Refused, with the field path: an origin that can never match (a path, a trailing slash), an
 * invalid regex, and `allowCredentials` with an origin matcher that matches `*`: such a matcher
 * allows every origin (Envoy), and credentials for any origin are what the Fetch spec forbids
 * `Access-Control-Allow-Origin: *` to carry.
 */
import type { CorsPolicySpec, CorsRules, OriginMatch } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import type { KindDefinition } from './kind.js';
import { readTargetRefs, targetRefReferences } from './policy-attachment.js';

const ORIGIN_FORMS = ['exact', 'prefix', 'suffix', 'regex'] as const;
/** `scheme://host[:port]`, as a browser sends it: no path, no trailing slash. */
const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/[^/\s?#]+$/i;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Envoy's max_age is a string of seconds; a day is more than any browser keeps a preflight. */
const MAX_AGE_LIMIT_S = 86_400;

function readOrigin(r: Reader, v: unknown, p: string): OriginMatch | undefined {
  const o = r.obj(v, p, ORIGIN_FORMS);
  if (!o) {
    if (v === undefined || v === null) r.err(p, `needs one of ${ORIGIN_FORMS.join(', ')}`);
    return undefined;
  }
  const set = ORIGIN_FORMS.filter((k) => o[k] !== undefined && o[k] !== null);
  if (set.length !== 1) {
    r.err(p, set.length ? `set only one of ${set.join(', ')}` : `needs one of ${ORIGIN_FORMS.join(', ')}`);
    return undefined;
  }
  const form = set[0]!;
  const q = `${p}.${form}`;
  if (form === 'regex') {
    const regex = r.regex(o.regex, q);
    return regex === undefined ? undefined : { regex };
  }
  const s = r.str(o[form], q, { required: true });
  if (s === undefined) return undefined;
  if (form === 'exact' && s !== '*' && s !== 'null' && !ORIGIN.test(s)) {
    r.err(q, `'${s}' is not an origin (scheme://host[:port], no path or trailing slash): a browser never sends it`);
    return undefined;
  }
  if (s !== s.toLowerCase()) {
    r.err(q, `'${s}' has upper-case letters: browsers send the scheme and host in lower case, and the match is case-sensitive`);
    return undefined;
  }
  if (/[/?#]$/.test(s) && form !== 'prefix') {
    r.err(q, `'${s}' ends in '${s.at(-1)}', which no Origin does`);
    return undefined;
  }
  return form === 'exact' ? { exact: s } : form === 'prefix' ? { prefix: s } : { suffix: s };
}

/** Whether `m` matches the literal origin `*` (Envoy then allows every origin). */
export function matchesStar(m: OriginMatch): boolean {
  if ('exact' in m) return m.exact === '*';
  if ('prefix' in m) return '*'.startsWith(m.prefix);
  if ('suffix' in m) return '*'.endsWith(m.suffix);
  try {
    return new RegExp(`^(?:${m.regex})$`).test('*');
  } catch {
    return false;
  }
}

/** A list of tokens (methods) or header names, or `['*']` alone. */
function readList(r: Reader, v: unknown, p: string, what: string, star: boolean): string[] {
  const list = r.arr(v, p, (x, q) => r.str(x, q, { required: true, pattern: TOKEN, patternHelp: what }));
  const at = list.indexOf('*');
  if (at >= 0 && !star) r.err(`${p}[${at}]`, `'*' is not ${what}`);
  else if (at >= 0 && list.length > 1) r.err(p, "'*' stands alone (it allows whatever the preflight asks for)");
  const seen = new Set<string>();
  list.forEach((x, i) => {
    const k = x.toLowerCase();
    if (seen.has(k)) r.err(`${p}[${i}]`, `'${x}' is listed twice`);
    seen.add(k);
  });
  return list;
}

/** `*` in exposeHeaders means every header only without credentials; with them a browser reads it as a header named `*`. */
function exposeStar(r: Reader, credentials: boolean, expose: readonly string[], p: string): void {
  if (credentials && expose.includes('*')) r.err(`${p}[${expose.indexOf('*')}]`, "'*' exposes every header only without credentials (with allowCredentials a browser takes it as a header named '*'); list the headers");
}

export function readCorsPolicy(r: Reader, v: unknown): CorsPolicySpec | undefined {
  const o = r.obj(v, 'spec', ['allowOrigins', 'allowMethods', 'allowHeaders', 'exposeHeaders', 'allowCredentials', 'maxAge', 'allowPrivateNetworkAccess', 'targetRefs'], ['allowOrigins']);
  if (!o) return undefined;
  // Absent: obj() reported it already.
  const allowOrigins = o.allowOrigins === undefined || o.allowOrigins === null ? [] : r.arr(o.allowOrigins, 'spec.allowOrigins', (x, q) => readOrigin(r, x, q), { nonEmpty: true });
  const allowMethods = readList(r, o.allowMethods, 'spec.allowMethods', 'an HTTP method', true);
  const allowHeaders = readList(r, o.allowHeaders, 'spec.allowHeaders', 'a header name', true);
  const exposeHeaders = readList(r, o.exposeHeaders, 'spec.exposeHeaders', 'a header name', true);
  const allowCredentials = r.bool(o.allowCredentials, 'spec.allowCredentials') ?? false;
  const allowPrivateNetworkAccess = r.bool(o.allowPrivateNetworkAccess, 'spec.allowPrivateNetworkAccess') ?? false;
  let maxAgeSeconds: number | undefined;
  const ms = r.duration(o.maxAge, 'spec.maxAge');
  if (ms !== undefined) {
    if (ms % 1000 !== 0) r.err('spec.maxAge', `must be whole seconds (access-control-max-age counts seconds), got ${o.maxAge}`);
    else if (ms / 1000 > MAX_AGE_LIMIT_S) r.err('spec.maxAge', `must be at most 24h (browsers cap it lower still), got ${o.maxAge}`);
    else maxAgeSeconds = ms / 1000;
  }
  if (allowCredentials) {
    const star = allowOrigins.findIndex(matchesStar);
    if (star >= 0) r.err('spec.allowCredentials', `true is refused with spec.allowOrigins[${star}], which matches '*' and so allows every origin: the Fetch spec forbids credentials for a wildcard origin; list the origins`);
  }
  exposeStar(r, allowCredentials, exposeHeaders, 'spec.exposeHeaders');
  const targetRefs = readTargetRefs(r, o.targetRefs, 'spec.targetRefs', { required: false });
  const spec: CorsPolicySpec = { allowOrigins, allowMethods, allowHeaders, exposeHeaders, allowCredentials, allowPrivateNetworkAccess, targetRefs };
  if (maxAgeSeconds !== undefined) spec.maxAgeSeconds = maxAgeSeconds;
  return spec;
}

export const corsPolicyKind: KindDefinition<'CorsPolicy'> = {
  kind: 'CorsPolicy',
  apiVersions: [API_VERSION_WEFT],
  plural: 'corspolicies',
  shortNames: [],
  read: (r, spec) => readCorsPolicy(r, spec),
  references: (res, ctx) => targetRefReferences(res, ctx.model.corsPolicies.values(), ctx),
  addToModel: (b, res) => void b.corsPolicies.set(`CorsPolicy/${res.metadata.namespace}/${res.metadata.name}`, res),
  summary(res) {
    const { allowOrigins, allowCredentials, targetRefs } = res.spec;
    const origins = allowOrigins.map((m) => Object.entries(m)[0]!.join(' ')).join(', ');
    const targets = targetRefs.map((t) => (t.sectionName ? `${t.name}/${t.sectionName}` : t.name));
    return `origins: ${origins}${allowCredentials ? '; credentials' : ''}${targets.length ? `; targets ${targets.join(', ')}` : ''}`;
  },
};

// ------------------------------------------------------------------------ Gateway API CORS filter

/** GEP-1767's origin: `http(s)://host[:port]`, `*` in the host a greedy match to the left. */
const GEP_ORIGIN = /^(https?):\/\/([^/:?#\s]+)(?::(\d+))?$/;

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * One GEP-1767 origin as a matcher: `*` alone allows every origin; a host with `*` becomes a
 * regex (`*` spans any number of labels, dots included); the port a scheme implies is dropped,
 * since a browser never sends it.
 */
function gepOrigin(r: Reader, v: unknown, p: string): OriginMatch | undefined {
  const s = r.str(v, p, { required: true });
  if (s === undefined) return undefined;
  if (s === '*') return { exact: '*' };
  const m = GEP_ORIGIN.exec(s);
  if (!m) {
    r.err(p, `'${s}' is not an origin: http or https, a host, an optional port, no path (e.g. https://*.example.com:8443)`);
    return undefined;
  }
  const [, scheme, mixedHost, portText] = m as unknown as [string, string, string, string | undefined];
  // Browsers send the host in lower case (GEP-1767 hosts are DNS names, case-insensitive).
  const host = mixedHost.toLowerCase();
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && (port < 1 || port > 65535)) {
    r.err(p, `port ${portText} is not from 1 to 65535`);
    return undefined;
  }
  const implied = (scheme === 'http' && port === 80) || (scheme === 'https' && port === 443);
  const suffix = port === undefined || implied ? '' : `:${port}`;
  if (!host.includes('*')) return { exact: `${scheme}://${host}${suffix}` };
  return { regex: `${scheme}://${host.split('*').map(escapeRegex).join('.*')}${escapeRegex(suffix)}` };
}

/** GEP-1767's default max age, in seconds. */
const GEP_DEFAULT_MAX_AGE_S = 5;

/**
 * The Gateway API HTTPRoute filter `type: CORS` (GEP-1767, experimental): read into the rules a
 * CorsPolicy holds, so both translate to the same Envoy CorsPolicy. Refused like a CorsPolicy:
 * `allowCredentials` with the `*` origin (GEP-1767 would echo any origin with credentials).
 */
export function readCorsFilter(r: Reader, v: unknown, p: string): CorsRules | undefined {
  const o = r.obj(v, p, ['allowOrigins', 'allowCredentials', 'allowMethods', 'allowHeaders', 'exposeHeaders', 'maxAge']);
  if (!o) return undefined;
  const allowOrigins = r.arr(o.allowOrigins, `${p}.allowOrigins`, (x, q) => gepOrigin(r, x, q), { nonEmpty: true, max: 64 });
  const star = allowOrigins.findIndex((m) => 'exact' in m && m.exact === '*');
  if (star >= 0 && allowOrigins.length > 1) r.err(`${p}.allowOrigins`, "'*' stands alone (it allows every origin)");
  const allowMethods = readList(r, o.allowMethods, `${p}.allowMethods`, 'an HTTP method', true);
  const allowHeaders = readList(r, o.allowHeaders, `${p}.allowHeaders`, 'a header name', true);
  const exposeHeaders = readList(r, o.exposeHeaders, `${p}.exposeHeaders`, 'a header name', true);
  const allowCredentials = r.bool(o.allowCredentials, `${p}.allowCredentials`) ?? false;
  if (allowCredentials && star >= 0) r.err(`${p}.allowCredentials`, `true is refused with the '*' origin (${p}.allowOrigins[${star}]): it would let every site make credentialed requests; list the origins`);
  exposeStar(r, allowCredentials, exposeHeaders, `${p}.exposeHeaders`);
  const maxAgeSeconds = o.maxAge === undefined || o.maxAge === null ? GEP_DEFAULT_MAX_AGE_S : r.int(o.maxAge, `${p}.maxAge`, 1, MAX_AGE_LIMIT_S);
  const rules: CorsRules = { allowOrigins, allowMethods, allowHeaders, exposeHeaders, allowCredentials, allowPrivateNetworkAccess: false };
  if (maxAgeSeconds !== undefined) rules.maxAgeSeconds = maxAgeSeconds;
  return rules;
}
