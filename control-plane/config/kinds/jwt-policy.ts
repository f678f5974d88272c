/**
 * JwtPolicy (weft.dev/v1alpha1, namespaced): JWT authentication with Envoy jwt_authn semantics,
 * at gateways and on sidecars. Providers say whom to trust (issuer, audiences, keys from an HTTPS
 * JWKS endpoint or inline) and where the token is (headers, query parameters, cookies); the
 * requirement says which providers a request must satisfy (or may miss), and which scopes and
 * claims a valid token must also carry (else 403).
 *
 * It applies to the HTTPRoute / GRPCRoute rules that name it in an ExtensionRef filter (routes
 * attached to Gateways only), to every route of the Gateways / listeners its `spec.targetRefs`
 * name, and to the sidecars of a Service it targets (their inbound listener). Translated by
 * translate/filters/jwt-authn.ts.
 *
 * Refused, with the field path: a JWKS URI that is not https, a CA that is not PEM certificates,
 * an inline JWKS that is not a key set or holds private keys, both or neither key source, a
 * clock skew above 5 minutes, a requirement naming a provider the policy does not have, and
 * scopes or claims together with allowMissing (a request without a token has no claims to check).
 */
import { X509Certificate } from 'node:crypto';
import type { JwtPolicySpec, JwtProviderSpec, JwtRequirementSpec, RemoteJwksSpec } from '../types.js';
import type { Obj, Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import type { KindDefinition } from './kind.js';
import { readTargetRefs, targetRefReferences } from './policy-attachment.js';

/** Envoy's default cache_duration for remote JWKS. */
export const DEFAULT_JWKS_CACHE_MS = 600_000;
export const DEFAULT_JWKS_TIMEOUT_MS = 5_000;
/** Envoy's default clock_skew_seconds. */
export const DEFAULT_CLOCK_SKEW_S = 60;
const MAX_CLOCK_SKEW_S = 300;
const MAX_PROVIDERS = 16;
/** RFC 6265 cookie-name (a token) and RFC 6749 scope-token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const CLAIM_PATH = /^[^.\s]+(\.[^.\s]+)*$/;
/** Headers a claim may not be copied into: they frame the request or route it. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'te', 'keep-alive', 'proxy-connection', 'trailer']);
/** JWK members that only private keys have. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

function pemCertificates(r: Reader, v: unknown, p: string): string | undefined {
  const s = r.str(v, p, { required: true });
  if (s === undefined) return undefined;
  const blocks = s.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) {
    r.err(p, 'must hold PEM certificates (-----BEGIN CERTIFICATE-----): the roots that verify the JWKS server');
    return undefined;
  }
  for (const [i, b] of blocks.entries()) {
    try {
      new X509Certificate(b);
    } catch (e) {
      r.err(p, `certificate ${i + 1} does not parse: ${(e as Error).message}`);
      return undefined;
    }
  }
  return s;
}

function readRemote(r: Reader, v: unknown, p: string): RemoteJwksSpec | undefined {
  const o = r.obj(v, p, ['uri', 'caCertificates', 'cacheDuration', 'timeout'], ['uri', 'caCertificates']);
  if (!o) return undefined;
  const uriText = r.str(o.uri, `${p}.uri`, { required: true });
  let uri: string | undefined;
  if (uriText !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(uriText);
    } catch {
      r.err(`${p}.uri`, `'${uriText}' is not a URL`);
    }
    if (u) {
      if (u.protocol !== 'https:') r.err(`${p}.uri`, `must be https (keys fetched in the clear could be replaced on the way), got ${u.protocol.slice(0, -1)}`);
      else if (u.username || u.password) r.err(`${p}.uri`, 'must not carry credentials');
      else if (u.hash) r.err(`${p}.uri`, 'must not have a fragment');
      else uri = u.href;
    }
  }
  const caCertificates = o.caCertificates === undefined || o.caCertificates === null ? undefined : pemCertificates(r, o.caCertificates, `${p}.caCertificates`);
  let cacheDurationMs = DEFAULT_JWKS_CACHE_MS;
  const cd = r.duration(o.cacheDuration, `${p}.cacheDuration`);
  if (cd !== undefined) {
    if (cd < 1000 || cd > 86_400_000) r.err(`${p}.cacheDuration`, `must be from 1s to 24h, got ${String(o.cacheDuration)}`);
    else cacheDurationMs = cd;
  }
  let timeoutMs = DEFAULT_JWKS_TIMEOUT_MS;
  const t = r.duration(o.timeout, `${p}.timeout`);
  if (t !== undefined) {
    if (t < 100 || t > 60_000) r.err(`${p}.timeout`, `must be from 100ms to 60s, got ${String(o.timeout)}`);
    else timeoutMs = t;
  }
  if (uri === undefined || caCertificates === undefined) return undefined;
  return { uri, caCertificates, cacheDurationMs, timeoutMs };
}

/** An inline JWKS: a JSON key set of public keys. */
export function checkJwks(text: string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return `is not JSON: ${(e as Error).message}`;
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) return 'must be a JWKS document: {"keys": [ ... ]} with at least one key';
  for (const [i, k] of keys.entries()) {
    if (!k || typeof k !== 'object' || typeof (k as Obj).kty !== 'string') return `keys[${i}] is not a JWK (no kty)`;
    const priv = PRIVATE_MEMBERS.find((m) => (k as Obj)[m] !== undefined);
    if (priv) return `keys[${i}] has the private member '${priv}': publish public keys only (a symmetric 'oct' key is a shared secret)`;
  }
  return undefined;
}

function readProvider(r: Reader, v: unknown, p: string): JwtProviderSpec | undefined {
  const o = r.obj(v, p, ['name', 'issuer', 'audiences', 'remoteJwks', 'localJwks', 'fromHeaders', 'fromParams', 'fromCookies', 'clockSkew', 'claimToHeaders', 'forward'], ['name']);
  if (!o) {
    if (v === undefined || v === null) r.err(p, 'must be an object');
    return undefined;
  }
  const name = r.dnsLabel(o.name, `${p}.name`);
  const issuer = r.str(o.issuer, `${p}.issuer`, { nonEmpty: true }) ?? '';
  const audiences = r.arr(o.audiences, `${p}.audiences`, (x, q) => r.str(x, q, { required: true }), { max: 32 });
  const hasRemote = o.remoteJwks !== undefined && o.remoteJwks !== null;
  const hasLocal = o.localJwks !== undefined && o.localJwks !== null;
  if (hasRemote === hasLocal) r.err(p, hasRemote ? 'set only one of remoteJwks, localJwks' : 'needs one of remoteJwks, localJwks (where the verification keys come from)');
  const remoteJwks = hasRemote ? readRemote(r, o.remoteJwks, `${p}.remoteJwks`) : undefined;
  let localJwks: string | undefined;
  if (hasLocal) {
    const s = r.str(o.localJwks, `${p}.localJwks`, { required: true });
    const why = s === undefined ? undefined : checkJwks(s);
    if (why) r.err(`${p}.localJwks`, why);
    else localJwks = s;
  }
  const fromHeaders = r.arr(o.fromHeaders, `${p}.fromHeaders`, (x, q) => {
    const h = r.obj(x, q, ['name', 'valuePrefix'], ['name']);
    if (!h) return undefined;
    const hn = r.headerName(h.name, `${q}.name`);
    const valuePrefix = h.valuePrefix === undefined || h.valuePrefix === null ? '' : r.headerValue(h.valuePrefix, `${q}.valuePrefix`);
    return hn === undefined || valuePrefix === undefined ? undefined : { name: hn.toLowerCase(), valuePrefix };
  }, { max: 8 });
  const fromParams = r.arr(o.fromParams, `${p}.fromParams`, (x, q) => r.str(x, q, { required: true, pattern: /^[^&=#\s]+$/, patternHelp: 'a query parameter name' }), { max: 8 });
  const fromCookies = r.arr(o.fromCookies, `${p}.fromCookies`, (x, q) => r.str(x, q, { required: true, pattern: TOKEN, patternHelp: 'a cookie name' }), { max: 8 });
  let clockSkewSeconds = DEFAULT_CLOCK_SKEW_S;
  const skew = r.duration(o.clockSkew, `${p}.clockSkew`);
  if (skew !== undefined) {
    if (skew % 1000 !== 0) r.err(`${p}.clockSkew`, `must be whole seconds (Envoy's clock_skew_seconds), got ${String(o.clockSkew)}`);
    else if (skew / 1000 > MAX_CLOCK_SKEW_S) r.err(`${p}.clockSkew`, `must be at most 5m (a larger skew keeps expired tokens alive), got ${String(o.clockSkew)}`);
    else clockSkewSeconds = skew / 1000;
  }
  const seen = new Map<string, number>();
  const claimToHeaders = r.arr(o.claimToHeaders, `${p}.claimToHeaders`, (x, q) => {
    const c = r.obj(x, q, ['claim', 'header'], ['claim', 'header']);
    if (!c) return undefined;
    const claim = r.str(c.claim, `${q}.claim`, { required: true, pattern: CLAIM_PATH, patternHelp: 'a claim name or dotted path (a.b)' });
    const header = r.headerName(c.header, `${q}.header`)?.toLowerCase();
    if (header !== undefined) {
      const i = Number(q.slice(q.lastIndexOf('[') + 1, -1));
      if (RESERVED_HEADERS.has(header)) r.err(`${q}.header`, `'${header}' frames or routes the request; choose another header`);
      else if (seen.has(header)) r.err(`${q}.header`, `'${header}' is already set by ${p}.claimToHeaders[${seen.get(header)}]`);
      else seen.set(header, i);
    }
    return claim === undefined || header === undefined ? undefined : { claim, header };
  }, { max: 32 });
  const forward = r.bool(o.forward, `${p}.forward`) ?? false;
  if (name === undefined || (!remoteJwks && localJwks === undefined)) return undefined;
  const out: JwtProviderSpec = { name, issuer, audiences, fromHeaders, fromParams, fromCookies, clockSkewSeconds, claimToHeaders, forward };
  if (remoteJwks) out.remoteJwks = remoteJwks;
  if (localJwks !== undefined) out.localJwks = localJwks;
  return out;
}

function readRequirement(r: Reader, v: unknown, providers: readonly JwtProviderSpec[]): JwtRequirementSpec {
  const p = 'spec.requirement';
  const o = r.obj(v, p, ['providers', 'allowMissing', 'allowFailed', 'scopes', 'claims']) ?? {};
  const names = new Set(providers.map((x) => x.name));
  const listed = r.arr(o.providers, `${p}.providers`, (x, q) => {
    const s = r.str(x, q, { required: true });
    if (s !== undefined && !names.has(s)) r.err(q, `'${s}' is not a provider of this policy (providers: ${[...names].join(', ')})`);
    return s;
  }, { max: MAX_PROVIDERS });
  const allowFailed = r.bool(o.allowFailed, `${p}.allowFailed`) ?? false;
  const allowMissingSet = r.bool(o.allowMissing, `${p}.allowMissing`);
  if (allowFailed && allowMissingSet === false) r.err(`${p}.allowMissing`, 'false contradicts allowFailed: true (a request whose token fails may also come without one)');
  const allowMissing = allowMissingSet ?? allowFailed;
  const scopes = r.arr(o.scopes, `${p}.scopes`, (x, q) => r.str(x, q, { required: true, pattern: SCOPE_TOKEN, patternHelp: 'a scope (RFC 6749 scope-token: no spaces, quotes or backslashes)' }), { max: 32 });
  const claims = r.arr(o.claims, `${p}.claims`, (x, q) => {
    const c = r.obj(x, q, ['name', 'values'], ['name', 'values']);
    if (!c) return undefined;
    const name = r.str(c.name, `${q}.name`, { required: true, pattern: CLAIM_PATH, patternHelp: 'a claim name or dotted path (a.b)' });
    const values = r.arr(c.values, `${q}.values`, (y, qq) => r.str(y, qq, { required: true }), { nonEmpty: true, max: 64 });
    return name === undefined || !values.length ? undefined : { name, values };
  }, { max: 32 });
  if (allowMissing && (scopes.length || claims.length)) {
    r.err(`${p}.${scopes.length ? 'scopes' : 'claims'}`, `cannot be required with ${allowFailed ? 'allowFailed' : 'allowMissing'}: a request without a verified token has no claims to check; use one policy per kind of route`);
  }
  return { providers: listed.length ? listed : [...names], allowMissing, allowFailed, scopes, claims };
}

export function readJwtPolicy(r: Reader, v: unknown): JwtPolicySpec | undefined {
  const o = r.obj(v, 'spec', ['providers', 'requirement', 'targetRefs'], ['providers']);
  if (!o) return undefined;
  const providers = o.providers === undefined || o.providers === null ? [] : r.arr(o.providers, 'spec.providers', (x, q) => readProvider(r, x, q), { nonEmpty: true, max: MAX_PROVIDERS });
  const seen = new Map<string, number>();
  providers.forEach((x, i) => {
    if (seen.has(x.name)) r.err(`spec.providers[${i}].name`, `'${x.name}' is already the name of spec.providers[${seen.get(x.name)}]`);
    else seen.set(x.name, i);
  });
  const requirement = readRequirement(r, o.requirement, providers);
  const targetRefs = readTargetRefs(r, o.targetRefs, 'spec.targetRefs', { required: false, services: true });
  return { providers, requirement, targetRefs };
}

export const jwtPolicyKind: KindDefinition<'JwtPolicy'> = {
  kind: 'JwtPolicy',
  apiVersions: [API_VERSION_WEFT],
  plural: 'jwtpolicies',
  shortNames: [],
  read: (r, spec) => readJwtPolicy(r, spec),
  references: (res, ctx) => targetRefReferences(res, ctx.model.jwtPolicies.values(), ctx),
  addToModel: (b, res) => void b.jwtPolicies.set(`JwtPolicy/${res.metadata.namespace}/${res.metadata.name}`, res),
  summary(res) {
    const { providers, requirement, targetRefs } = res.spec;
    const targets = targetRefs.map((t) => (t.kind === 'Service' ? `svc/${t.name}` : t.sectionName ? `${t.name}/${t.sectionName}` : t.name));
    const needs = [...requirement.scopes.map((s) => `scope ${s}`), ...requirement.claims.map((c) => `claim ${c.name}`)];
    return `providers: ${providers.map((x) => x.issuer || x.name).join(', ')}${requirement.allowMissing ? '; token optional' : ''}${needs.length ? `; needs ${needs.join(', ')}` : ''}${targets.length ? `; targets ${targets.join(', ')}` : ''}`;
  },
};
