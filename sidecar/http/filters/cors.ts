/**
 * Envoy's CORS filter (envoy.filters.http.cors). The listener-level `Cors` has no options; a
 * policy (`CorsPolicy`) comes from a virtual host's or route's typed_per_filter_config, and
 * routes without one do not run the filter at all. A request with a non-empty Origin is allowed
 * when an origin matcher matches it, or matches `*` (Envoy: such a matcher allows every origin).
 *  - A preflight (OPTIONS with Access-Control-Request-Method) from an allowed origin is answered
 *    here and never forwarded: the origin named back, credentials, allow_methods and allow_headers
 *    (`*`: echo what the preflight asks for), max_age, and private network access when asked for
 *    and allowed.
 *  - A preflight from another origin goes on to the route (forward_not_matching_preflights, the
 *    default) or, when that is false, is answered here as Envoy does: the same headers but no
 *    access-control-allow-origin, so the browser refuses the request.
 *  - Any other response to an allowed origin (the app's, or one the proxy made after this filter)
 *    gets `access-control-allow-origin: <origin>`, credentials and the exposed headers.
 * A request without an Origin, or an actual request from an origin not allowed, passes untouched.
 *
 * Weft differs from Envoy in two documented points: answers to an allowed origin also carry
 * `vary: origin` (added to the response's own Vary), since they differ per origin and a cache
 * must not serve one origin's answer to another; and a preflight is answered 204, not 200 (both
 * are the "ok status" the Fetch spec asks of a preflight).
 */
import { unpackAny } from '../../../common/wire-decode.js';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS } from '../../../common/extensions.js';
import type { CorsPolicy } from '../../../proto/gen/envoy/extensions/filters/http/cors/v3/cors_pb.js';
import { CompiledStringMatch } from '../../routing/matchers.js';
import { checkRegex } from '../../xds/types/decoded.js';
import { checkSupported, supportedFields } from '../../xds/types/supported.js';
import { noOptions } from './no-options.js';
import { ForwardingSink, type Filter, type HttpFilterFactory, type RequestHead, type ResponseHeaders, type ResponseSink } from '../filter.js';
import { respondLocal } from '../respond.js';

const FIELDS = supportedFields({
  'envoy.extensions.filters.http.cors.v3.CorsPolicy': ['allow_origin_string_match', 'allow_methods', 'allow_headers', 'expose_headers', 'max_age', 'allow_credentials', 'forward_not_matching_preflights', 'allow_private_network_access'],
  'envoy.type.matcher.v3.StringMatcher': ['exact', 'prefix', 'suffix', 'contains', 'safe_regex', 'ignore_case'],
  'envoy.type.matcher.v3.RegexMatcher': ['regex', 'google_re2'],
});

/** A CorsPolicy, compiled. */
export interface Cors {
  readonly origins: readonly CompiledStringMatch[];
  /** Some origin matcher matches `*`: every origin is allowed. */
  readonly anyOrigin: boolean;
  /** '' = no header; '*' = the method the preflight asks for. */
  readonly allowMethods: string;
  /** '' = no header; '*' = the headers the preflight asks for. */
  readonly allowHeaders: string;
  readonly exposeHeaders: string;
  readonly maxAge: string;
  readonly allowCredentials: boolean;
  readonly allowPrivateNetworkAccess: boolean;
  /** Preflights from origins not allowed go on to the route (else they are answered here). */
  readonly forwardNotMatchingPreflights: boolean;
}

function compile(pol: CorsPolicy): Cors {
  const origins = pol.allowOriginStringMatch.map((m) => CompiledStringMatch.from(m));
  return Object.freeze({
    origins,
    anyOrigin: origins.some((m) => m.test('*')),
    allowMethods: pol.allowMethods,
    allowHeaders: pol.allowHeaders,
    exposeHeaders: pol.exposeHeaders,
    maxAge: pol.maxAge,
    allowCredentials: pol.allowCredentials === true,
    allowPrivateNetworkAccess: pol.allowPrivateNetworkAccess === true,
    forwardNotMatchingPreflights: pol.forwardNotMatchingPreflights !== false,
  });
}

function allowed(c: Cors, origin: string): boolean {
  if (c.anyOrigin) return true;
  for (const m of c.origins) if (m.test(origin)) return true;
  return false;
}

/** The headers every response to an allowed origin carries. */
function responseHeaders(c: Cors, origin: string): ResponseHeaders {
  const h: ResponseHeaders = { 'access-control-allow-origin': origin };
  if (c.allowCredentials) h['access-control-allow-credentials'] = 'true';
  if (c.exposeHeaders) h['access-control-expose-headers'] = c.exposeHeaders;
  return h;
}

/** `origin` added to a response's Vary (kept once; `*` already covers it). */
function withVaryOrigin(headers: ResponseHeaders): void {
  const v = headers.vary;
  const cur = Array.isArray(v) ? v.join(', ') : v === undefined ? '' : String(v);
  if (!cur) headers.vary = 'origin';
  else if (!cur.split(',').some((x) => { const t = x.trim().toLowerCase(); return t === 'origin' || t === '*'; })) headers.vary = `${cur}, origin`;
}

/** A preflight's answer (Envoy's): the origin named back only when it is allowed. */
function preflightHeaders(c: Cors, req: RequestHead, origin: string | undefined): ResponseHeaders {
  // The answer depends on the origin either way.
  const h: ResponseHeaders = { vary: 'origin' };
  if (origin !== undefined) h['access-control-allow-origin'] = origin;
  if (c.allowCredentials) h['access-control-allow-credentials'] = 'true';
  const methods = c.allowMethods === '*' ? req.header('access-control-request-method') : c.allowMethods;
  if (methods) h['access-control-allow-methods'] = methods;
  const headers = c.allowHeaders === '*' ? req.header('access-control-request-headers') : c.allowHeaders;
  if (headers) h['access-control-allow-headers'] = headers;
  if (c.maxAge) h['access-control-max-age'] = c.maxAge;
  if (c.allowPrivateNetworkAccess && req.header('access-control-request-private-network') === 'true') h['access-control-allow-private-network'] = 'true';
  return h;
}

/** A sink that adds the CORS headers to whatever response head passes through it. */
class CorsSink extends ForwardingSink {
  constructor(
    res: ResponseSink,
    readonly extra: ResponseHeaders,
  ) {
    super(res);
  }
  override writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void {
    this.res.writeHead(status, this.#add(headers), endStream);
  }
  override respondTrailersOnly(headers: ResponseHeaders): void {
    this.res.respondTrailersOnly(this.#add(headers));
  }
  override respondSimple(status: number, headers: ResponseHeaders, body: string): void {
    this.res.respondSimple(status, this.#add({ ...headers }), body);
  }
  #add(headers: ResponseHeaders): ResponseHeaders {
    Object.assign(headers, this.extra);
    withVaryOrigin(headers);
    return headers;
  }
}

function corsFilter(c: Cors): Filter {
  return (next) => (req, res, info) => {
    const origin = req.header('origin');
    if (!origin) {
      next(req, res, info);
      return;
    }
    const ok = allowed(c, origin);
    if (req.method === 'OPTIONS' && req.header('access-control-request-method')) {
      if (ok || !c.forwardNotMatchingPreflights) respondLocal(res, 204, preflightHeaders(c, req, ok ? origin : undefined), '');
      else next(req, res, info);
      return;
    }
    if (ok) next(req, new CorsSink(res, responseHeaders(c, origin)), info);
    else next(req, res, info);
  };
}

export const cors: HttpFilterFactory<true, Cors> = {
  extension: EXTENSIONS.cors,
  parse: noOptions(EXTENSIONS.cors),
  perRoute: {
    schema: EXTENSIONS.corsPolicy.schema,
    parse(any, p, path) {
      const pol = unpackAny(any, EXTENSIONS.corsPolicy.schema);
      if (!pol) {
        p.add(path, 'is not a CorsPolicy');
        return undefined;
      }
      checkSupported(EXTENSIONS.corsPolicy.schema, pol, FIELDS, p, path);
      pol.allowOriginStringMatch.forEach((m, i) => {
        if (!m.matchPattern.case) p.add(`${path}.allow_origin_string_match[${i}]`, 'a match pattern is required');
        if (m.matchPattern.case === 'safeRegex') checkRegex(p, `${path}.allow_origin_string_match[${i}].safe_regex.regex`, m.matchPattern.value.regex);
      });
      if (pol.maxAge && !/^\d+$/.test(pol.maxAge)) p.add(`${path}.max_age`, `'${pol.maxAge}' is not a number of seconds`);
      return compile(pol);
    },
  },
  create: (_cfg, policy) => (policy ? corsFilter(policy) : undefined),
};
