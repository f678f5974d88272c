/**
 * Envoy's JWT authentication filter (envoy.filters.http.jwt_authn), as Weft's control plane emits
 * it: `providers` and a `requirement_map`; a route names its requirement with a PerRouteConfig
 * (`requirement_name`, or `disabled`). Routes without one are not checked (Envoy: no rule, no
 * requirement). `rules` and `filter_state_rules` are refused (the proxy matches requirements per
 * route only), as are the provider options it does not execute.
 *
 * A requirement is a provider, or `requires_any` of providers plus optionally `allow_missing` /
 * `allow_missing_or_failed`. Per request, each provider of the requirement in order looks for a
 * token where it says (headers with an optional value prefix, query parameters, cookies; by
 * default `Authorization: Bearer` and the `access_token` parameter, as Envoy) and verifies it
 * with `jose` (signature against the provider's keys, `iss`, `aud`, `exp` / `nbf` with the
 * clock skew). The first verified token wins:
 *  - `info.jwt` is set (provider, issuer, subject, claims) for later filters;
 *  - claims are copied into the request headers `claim_to_headers` names (a string, number or
 *    boolean, or an array of them joined by ','; a value with characters a header cannot carry,
 *    controls or non-ASCII, is not copied); whatever the client sent under those names is
 *    removed first, on every request the requirement covers, verified or not;
 *  - unless `forward`, the header that carried the token is removed.
 * No token: 401 JWT_MISSING (unless allowed missing); tokens that all fail: 401 JWT_INVALID with
 * RFC 6750's `error="invalid_token"` and Envoy's description (unless allow_missing_or_failed).
 *
 * Keys: `local_jwks` is built into a key set when the config is parsed; `remote_jwks` is the
 * Runtime's shared RemoteJwks for the provider (http/jwt/jwks.ts: fetched once per proxy, cached,
 * refreshed in the background, refetched on an unknown kid at most once per 30 s).
 */
import { unpackAny } from '../../../common/wire-decode.js';
import { claimAt } from '../jwt/claims.js';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import type { JWTPayload } from 'jose';
import { VerifiedTokens } from '../jwt/verified-tokens.js';
import { EXTENSIONS } from '../../../common/extensions.js';
import type { JwtAuthentication, JwtProvider, JwtRequirement } from '../../../proto/gen/envoy/extensions/filters/http/jwt_authn/v3/config_pb.js';
import { checkSupported, supportedFields } from '../../xds/types/supported.js';
import type { Problems } from '../../xds/types/decoded.js';
import { durationMs } from '../../xds/types/decoded.js';
import { DISABLED, RequestView, type Filter, type Handler, type HttpFilterFactory, type RequestHead, type RequestInfo, type ResponseSink, type VerifiedJwt } from '../filter.js';
import { keySetOf, loadJose, JwksRegistry, type KeySet, type RemoteJwks } from '../jwt/jwks.js';
import { respondInvalid, respondMissing } from '../jwt/challenge.js';

const FIELDS = supportedFields({
  'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication': ['providers', 'requirement_map'],
  'envoy.extensions.filters.http.jwt_authn.v3.JwtProvider': ['issuer', 'audiences', 'remote_jwks', 'local_jwks', 'forward', 'from_headers', 'from_params', 'from_cookies', 'clock_skew_seconds', 'claim_to_headers'],
  'envoy.extensions.filters.http.jwt_authn.v3.RemoteJwks': ['http_uri', 'cache_duration'],
  'envoy.config.core.v3.HttpUri': ['uri', 'cluster', 'timeout'],
  'envoy.config.core.v3.DataSource': ['inline_string'],
  'envoy.extensions.filters.http.jwt_authn.v3.JwtHeader': ['name', 'value_prefix'],
  'envoy.extensions.filters.http.jwt_authn.v3.JwtClaimToHeader': ['header_name', 'claim_name'],
  'envoy.extensions.filters.http.jwt_authn.v3.JwtRequirement': ['provider_name', 'requires_any', 'allow_missing', 'allow_missing_or_failed'],
  'envoy.extensions.filters.http.jwt_authn.v3.JwtRequirementOrList': ['requirements'],
});
const PER_ROUTE_FIELDS = supportedFields({ 'envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig': ['requirement_name', 'disabled'] });

/** Envoy's clock_skew_seconds default. */
const DEFAULT_SKEW_S = 60;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const RESERVED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'te', 'keep-alive', 'proxy-connection', 'trailer']);

interface Provider {
  readonly name: string;
  readonly issuer: string | undefined;
  readonly audiences: string[] | undefined;
  readonly local: KeySet | undefined;
  readonly remote: { uri: string; cluster: string; cacheMs: number; timeoutMs: number } | undefined;
  readonly forward: boolean;
  readonly headers: ReadonlyArray<{ name: string; prefix: string }>;
  readonly params: readonly string[];
  readonly cookies: readonly string[];
  readonly skew: number;
  readonly claimHeaders: ReadonlyArray<{ header: string; path: readonly string[] }>;
  /** Tokens this provider verified (http/jwt/verified-tokens.ts). */
  readonly verified: VerifiedTokens;
}

interface Requirement {
  readonly providers: readonly Provider[];
  readonly allowMissing: boolean;
  readonly allowFailed: boolean;
}

export interface JwtConfig {
  readonly providers: ReadonlyMap<string, Provider>;
  readonly requirements: ReadonlyMap<string, Requirement>;
}

/** A route's choice: its requirement, by name. */
export interface JwtPerRoute {
  readonly requirement: string;
}

function parseProvider(name: string, x: JwtProvider, p: Problems, path: string): Provider | undefined {
  const before = p.errors.length;
  let local: KeySet | undefined;
  let remote: Provider['remote'];
  const src = x.jwksSourceSpecifier;
  if (src.case === 'localJwks') {
    const text = src.value.specifier.case === 'inlineString' ? src.value.specifier.value : undefined;
    if (text === undefined) p.add(`${path}.local_jwks`, 'must be inline_string');
    else {
      try {
        local = keySetOf(text).keys;
      } catch (e) {
        p.add(`${path}.local_jwks.inline_string`, (e as Error).message);
      }
    }
  } else if (src.case === 'remoteJwks') {
    const h = src.value.httpUri;
    const up = `${path}.remote_jwks.http_uri`;
    if (!h) p.add(up, 'is required');
    else {
      let ok = false;
      try {
        ok = new URL(h.uri).protocol === 'https:';
      } catch {
        // reported below
      }
      if (!ok) p.add(`${up}.uri`, `'${h.uri}' is not an https URL`);
      if (h.httpUpstreamType.case !== 'cluster' || !h.httpUpstreamType.value) p.add(`${up}.cluster`, 'is required (the origin cluster the keys are fetched through)');
      const timeoutMs = durationMs(h.timeout, 0);
      if (timeoutMs <= 0) p.add(`${up}.timeout`, 'must be positive');
      const cacheMs = durationMs(src.value.cacheDuration, 600_000);
      if (cacheMs < 1000) p.add(`${path}.remote_jwks.cache_duration`, 'must be at least 1s');
      if (ok && h.httpUpstreamType.case === 'cluster') remote = { uri: h.uri, cluster: h.httpUpstreamType.value, cacheMs, timeoutMs };
    }
  } else p.add(path, 'needs remote_jwks or local_jwks');
  const headers = x.fromHeaders.map((h, i) => {
    if (!HEADER_NAME.test(h.name)) p.add(`${path}.from_headers[${i}].name`, `'${h.name}' is not a header name`);
    return { name: h.name.toLowerCase(), prefix: h.valuePrefix.toLowerCase() };
  });
  const claimHeaders = x.claimToHeaders.map((c, i) => {
    const hn = c.headerName.toLowerCase();
    if (!HEADER_NAME.test(hn) || RESERVED.has(hn)) p.add(`${path}.claim_to_headers[${i}].header_name`, `'${c.headerName}' cannot carry a claim`);
    if (!c.claimName) p.add(`${path}.claim_to_headers[${i}].claim_name`, 'is required');
    return { header: hn, path: c.claimName.split('.') };
  });
  if (x.clockSkewSeconds > 300) p.add(`${path}.clock_skew_seconds`, 'must be at most 300');
  if (p.errors.length > before) return undefined;
  const noLocation = !headers.length && !x.fromParams.length && !x.fromCookies.length;
  return {
    name,
    issuer: x.issuer || undefined,
    audiences: x.audiences.length ? x.audiences : undefined,
    local,
    remote,
    forward: x.forward,
    // Envoy's default locations.
    headers: noLocation ? [{ name: 'authorization', prefix: 'bearer ' }] : headers,
    params: noLocation ? ['access_token'] : x.fromParams,
    cookies: x.fromCookies,
    skew: x.clockSkewSeconds || DEFAULT_SKEW_S,
    claimHeaders,
    verified: new VerifiedTokens(),
  };
}

function parseRequirement(r: JwtRequirement, providers: ReadonlyMap<string, Provider>, p: Problems, path: string): Requirement | undefined {
  const list: Provider[] = [];
  let allowMissing = false;
  let allowFailed = false;
  const one = (x: JwtRequirement, q: string, nested: boolean): void => {
    const t = x.requiresType;
    switch (t.case) {
      case 'providerName': {
        const pr = providers.get(t.value);
        if (!pr) p.add(`${q}.provider_name`, `'${t.value}' is not a provider of this filter`);
        else list.push(pr);
        return;
      }
      case 'allowMissing':
        allowMissing = true;
        return;
      case 'allowMissingOrFailed':
        allowMissing = allowFailed = true;
        return;
      case 'requiresAny':
        if (nested) p.add(`${q}.requires_any`, 'nested requirement lists are not supported by the Weft sidecar');
        else t.value.requirements.forEach((y, i) => one(y, `${q}.requires_any.requirements[${i}]`, true));
        return;
      default:
        p.add(q, 'needs provider_name, requires_any, allow_missing or allow_missing_or_failed');
    }
  };
  const before = p.errors.length;
  one(r, path, false);
  return p.errors.length > before ? undefined : { providers: list, allowMissing, allowFailed };
}

/** The token a provider finds in the request, and the header it came from ('' otherwise). */
function extract(pr: Provider, req: RequestHead): { token: string; header: string } | undefined {
  for (const h of pr.headers) {
    const v = req.header(h.name);
    if (v === undefined) continue;
    if (!h.prefix) return v.trim() ? { token: v.trim(), header: h.name } : undefined;
    if (v.length > h.prefix.length && v.slice(0, h.prefix.length).toLowerCase() === h.prefix) {
      const rest = v.slice(h.prefix.length).trim();
      const end = rest.search(/[\s,]/);
      const token = end < 0 ? rest : rest.slice(0, end);
      if (token) return { token, header: h.name };
    }
  }
  if (pr.params.length && req.search.length > 1) {
    const q = new URLSearchParams(req.search.slice(1));
    for (const name of pr.params) {
      const v = q.get(name);
      if (v) return { token: v, header: '' };
    }
  }
  if (pr.cookies.length) {
    const cookie = req.header('cookie');
    if (cookie) {
      for (const part of cookie.split(';')) {
        const eq = part.indexOf('=');
        if (eq < 0) continue;
        const k = part.slice(0, eq).trim();
        if (pr.cookies.includes(k)) {
          const v = part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
          if (v) return { token: v, header: '' };
        }
      }
    }
  }
  return undefined;
}

/** Envoy's words for why a token failed (its JwtVerify status messages). */
function reason(joseErrors: (typeof import('jose'))['errors'], e: unknown): string {
  if (e instanceof joseErrors.JWTExpired) return 'Jwt is expired';
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === 'nbf') return 'Jwt not yet valid';
    if (e.claim === 'iss') return 'Jwt issuer is not configured';
    if (e.claim === 'aud') return 'Audiences in Jwt are not allowed';
    return `Jwt claim ${e.claim} is invalid`;
  }
  if (e instanceof joseErrors.JWKSNoMatchingKey) return 'Jwks doesn\'t have key to match kid or alg from Jwt';
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return 'Jwt verification fails';
  if (e instanceof joseErrors.JOSEAlgNotAllowed || e instanceof joseErrors.JOSENotSupported) return 'Jwt algorithm is not supported';
  return 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections';
}

type Verified = { ok: true; payload: JWTPayload } | { ok: false; why: string };

/** The key set that verifies tokens with `kid` now, without waiting (undefined: none ready). */
function currentKeys(pr: Provider, remote: RemoteJwks | undefined, kid: string | undefined): KeySet | undefined {
  return pr.local ?? remote?.ready(kid);
}

/** A token this provider verified before, still valid now (no signature check), or undefined. */
function cached(pr: Provider, remote: RemoteJwks | undefined, token: string): JWTPayload | undefined {
  return pr.verified.get(token, Date.now() / 1000, pr.skew, (kid) => currentKeys(pr, remote, kid));
}

async function verify(pr: Provider, remote: RemoteJwks | undefined, token: string): Promise<Verified> {
  const jose = await loadJose();
  let kid: string | undefined;
  try {
    kid = jose.decodeProtectedHeader(token).kid;
  } catch {
    return { ok: false, why: reason(jose.errors, undefined) };
  }
  const keys = currentKeys(pr, remote, kid) ?? (await remote?.keysFor(kid));
  if (!keys) return { ok: false, why: 'Jwks remote fetch is failed' };
  try {
    const { payload } = await jose.jwtVerify(token, await keys.resolver(), { issuer: pr.issuer, audience: pr.audiences, clockTolerance: pr.skew });
    pr.verified.add(token, payload, kid, keys);
    return { ok: true, payload };
  } catch (e) {
    return { ok: false, why: reason(jose.errors, e) };
  }
}

/** What a header value may hold on the wire (visible ASCII, space, tab): anything else is not copied. */
const HEADER_SAFE = /^[\t\x20-\x7e]*$/;

/** A claim as a header value: scalars as text, arrays of scalars joined by ','; else undefined. */
function headerValue(v: unknown): string | undefined {
  if (typeof v === 'string') return HEADER_SAFE.test(v) ? v : undefined;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && v.length && v.every((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')) return headerValue(v.join(','));
  return undefined;
}

/** The request as the next stage sees it: some headers removed, claim headers added. */
class AuthenticatedRequest extends RequestView {
  constructor(
    req: RequestHead,
    private readonly drop: ReadonlySet<string>,
    private readonly add: ReadonlyMap<string, string>,
  ) {
    super(req);
  }
  override header(name: string): string | undefined {
    const a = this.add.get(name);
    if (a !== undefined) return a;
    return this.drop.has(name) ? undefined : this.req.header(name);
  }
  override rawPairs(): string[] {
    const src = this.req.rawPairs();
    const out: string[] = [];
    for (let i = 0; i < src.length; i += 2) if (!this.drop.has(src[i]!) && !this.add.has(src[i]!)) out.push(src[i]!, src[i + 1]!);
    for (const [k, v] of this.add) out.push(k, v);
    return out;
  }
}

const NO_HEADERS: ReadonlyMap<string, string> = new Map();

function jwtFilter(req: Requirement, remotes: ReadonlyMap<Provider, RemoteJwks>): Filter {
  // Every claim header of the requirement's providers: never taken from the client.
  const claimNames = new Set(req.providers.flatMap((p) => p.claimHeaders.map((c) => c.header)));
  const scrub = (r: RequestHead): RequestHead => (claimNames.size ? new AuthenticatedRequest(r, claimNames, NO_HEADERS) : r);
  // The claim headers plus the token's header, one set per header a token can come in (built on
  // first use: the providers' header sources bound them).
  const drops = new Map<string, ReadonlySet<string>>();
  const dropWith = (header: string): ReadonlySet<string> => {
    let d = drops.get(header);
    if (d === undefined) drops.set(header, (d = new Set([...claimNames, header])));
    return d;
  };

  const passed = (pr: Provider, found: { header: string }, payload: JWTPayload, r: RequestHead, res: ResponseSink, info: RequestInfo, next: Handler): void => {
    const jwt: VerifiedJwt = { provider: pr.name, issuer: typeof payload.iss === 'string' ? payload.iss : '', subject: typeof payload.sub === 'string' ? payload.sub : '', payload };
    info.jwt = jwt;
    let add = NO_HEADERS;
    if (pr.claimHeaders.length) {
      const m = new Map<string, string>();
      for (const c of pr.claimHeaders) {
        const v = headerValue(claimAt(payload, c.path));
        if (v !== undefined) m.set(c.header, v);
      }
      add = m;
    }
    let drop: ReadonlySet<string> = claimNames;
    if (!pr.forward && found.header) drop = dropWith(found.header);
    next(drop.size || add.size ? new AuthenticatedRequest(r, drop, add) : r, res, info);
  };

  return (next) => (r, res, info) => {
    // A sub-request (an aggregation's call) carries its composed request's verified JWT.
    if (info.parent !== undefined) return next(r, res, info);
    let first: { pr: Provider; found: { token: string; header: string } } | undefined;
    for (const pr of req.providers) {
      const found = extract(pr, r);
      if (found) {
        first = { pr, found };
        break;
      }
    }
    if (!first) {
      if (req.allowMissing) next(scrub(r), res, info);
      else respondMissing(r, res, info);
      return;
    }
    // The first token found, verified before by its provider: accepted without a signature check.
    const hit = cached(first.pr, remotes.get(first.pr), first.found.token);
    if (hit !== undefined) {
      passed(first.pr, first.found, hit, r, res, info, next);
      return;
    }
    verifyAny(first, r).then(
      (v) => {
        // What runs after this filter runs outside the verification: a stage that throws there
        // is not a token failure (and may have answered already): the stream is reset.
        try {
          if (typeof v !== 'string') passed(v.pr, v.found, v.payload, r, res, info, next);
          else if (req.allowFailed) next(scrub(r), res, info);
          else respondInvalid(r, res, info, v);
        } catch {
          res.abort();
        }
      },
      () => respondInvalid(r, res, info, 'Jwt verification fails'),
    );
  };
  /** The first provider's verification that passes, or why the last one failed. */
  async function verifyAny(first: { pr: Provider; found: { token: string; header: string } }, r: RequestHead): Promise<{ pr: Provider; found: { token: string; header: string }; payload: JWTPayload } | string> {
    let why = '';
    for (const pr of req.providers) {
      const found = pr === first.pr ? first.found : extract(pr, r);
      if (!found) continue;
      const v = await verify(pr, remotes.get(pr), found.token);
      if (v.ok) return { pr, found, payload: v.payload };
      why ||= v.why;
    }
    return why;
  }
}

/** Key sets of remote providers when no Runtime gives a registry (never fetched: no origins). */
const NO_ORIGINS = new JwksRegistry(() => undefined);

export const jwtAuthn: HttpFilterFactory<JwtConfig, JwtPerRoute> = {
  extension: EXTENSIONS.jwtAuthn,
  parse(any, p, path) {
    const ja = unpackAny(any, EXTENSIONS.jwtAuthn.schema) as JwtAuthentication | undefined;
    if (!ja) {
      p.add(path, 'is not a JwtAuthentication');
      return undefined;
    }
    checkSupported(EXTENSIONS.jwtAuthn.schema, ja, FIELDS, p, path);
    const providers = new Map<string, Provider>();
    for (const [name, x] of Object.entries(ja.providers)) {
      const pr = parseProvider(name, x, p, `${path}.providers["${name}"]`);
      if (pr) providers.set(name, pr);
    }
    const requirements = new Map<string, Requirement>();
    for (const [name, r] of Object.entries(ja.requirementMap)) {
      const rq = parseRequirement(r, providers, p, `${path}.requirement_map["${name}"]`);
      if (rq) requirements.set(name, rq);
    }
    return { providers, requirements };
  },
  perRoute: {
    schema: EXTENSIONS.jwtAuthnPerRoute.schema,
    parse(any, p, path) {
      const pr = unpackAny(any, EXTENSIONS.jwtAuthnPerRoute.schema);
      if (!pr) {
        p.add(path, 'is not a PerRouteConfig');
        return undefined;
      }
      checkSupported(EXTENSIONS.jwtAuthnPerRoute.schema, pr, PER_ROUTE_FIELDS, p, path);
      const s = pr.requirementSpecifier;
      if (s.case === 'disabled') return s.value ? (DISABLED as unknown as JwtPerRoute) : undefined;
      if (s.case !== 'requirementName' || !s.value) {
        p.add(path, 'needs requirement_name or disabled');
        return undefined;
      }
      return { requirement: s.value };
    },
  },
  create(cfg, perRoute, ctx) {
    if (!perRoute) return undefined;
    const req = cfg.requirements.get(perRoute.requirement);
    if (!req) {
      // Envoy refuses a route naming a requirement its listener's filter lacks; a chain that
      // would skip authentication instead is never built: every request is refused.
      return () => (r, res, info) => respondInvalid(r, res, info, `requirement '${perRoute.requirement}' is not configured`);
    }
    const registry = ctx.jwks ?? NO_ORIGINS;
    const remotes = new Map<Provider, RemoteJwks>();
    for (const pr of req.providers) if (pr.remote) remotes.set(pr, registry.get(pr.name, pr.remote));
    return jwtFilter(req, remotes);
  },
  explain(cfg, perRoute, r) {
    if (!perRoute) return undefined;
    const req = cfg.requirements.get(perRoute.requirement);
    if (!req) return { effect: 'deny', detail: `requirement '${perRoute.requirement}' is not configured: every request is refused 401 JWT_INVALID`, refuses: '401 JWT_INVALID' };
    const who = req.providers.map((p) => `${p.name}${p.issuer ? ` (issuer ${p.issuer}${p.audiences?.length ? `, audiences ${p.audiences.join(' ')}` : ''})` : ''}`).join(' or ');
    const carried = req.providers.some((p) => tokenPresent(p, r));
    const lax = req.allowFailed ? 'a missing or failing token is let through' : req.allowMissing ? 'a missing token is let through' : 'no token: 401 JWT_MISSING; a bad one: 401 JWT_INVALID';
    const refused = !carried && !req.allowMissing && !req.allowFailed;
    return { effect: refused ? 'deny' : 'requires', detail: `requirement '${perRoute.requirement}': a JWT from ${who}; ${lax}; this request ${carried ? 'carries a token (its signature and claims are checked when it is sent)' : 'carries none'}`, ...(refused ? { refuses: '401 JWT_MISSING' } : {}) };
  },
};

/** Whether the request carries something where the provider looks for a token (not verified). */
function tokenPresent(p: Provider, r: RequestHead): boolean {
  if (p.headers.some((h) => r.header(h.name)?.toLowerCase().startsWith(h.prefix.toLowerCase()))) return true;
  const q = new URLSearchParams(r.search);
  if (p.params.some((n) => q.has(n))) return true;
  const cookie = r.header('cookie') ?? '';
  return p.cookies.some((c) => cookie.split(';').some((x) => x.trim().startsWith(`${c}=`)));
}
