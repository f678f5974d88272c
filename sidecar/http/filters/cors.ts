/**
 * Envoy's CORS filter (envoy.filters.http.cors). The listener-level `Cors` has no options; a
 * policy (`CorsPolicy`) comes from a virtual host's or route's typed_per_filter_config, and
 * routes without one do not run the filter at all. For a request with an allowed Origin:
 *  - a preflight (OPTIONS with Access-Control-Request-Method) is answered here, 204, with the
 *    allowed methods and headers and max-age, and never forwarded;
 *  - any other response (the app's, or one the sidecar made after this filter) gets
 *    `access-control-allow-origin: <origin>`, the exposed headers and `vary: origin`.
 * A request without an Origin, or with one the policy does not allow, passes untouched.
 *
 * Weft differs from Envoy in one documented point: an empty allow_headers allows the headers the
 * preflight asks for (Envoy sends none), which is what gRPC-Web clients with custom metadata need.
 */
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS } from '../../../common/extensions.js';
import type { CorsPolicy } from '../../../proto/gen/envoy/extensions/filters/http/cors/v3/cors_pb.js';
import { CompiledStringMatch } from '../../routing/matchers.js';
import { checkRegex } from '../../xds/types/decoded.js';
import { checkSupported, supportedFields } from '../../xds/types/supported.js';
import { noOptions } from './no-options.js';
import { ForwardingSink, type Filter, type HttpFilterFactory, type ResponseHeaders, type ResponseSink } from '../filter.js';
import { respondLocal } from '../respond.js';

const FIELDS = supportedFields({
  'envoy.extensions.filters.http.cors.v3.CorsPolicy': ['allow_origin_string_match', 'allow_methods', 'allow_headers', 'expose_headers', 'max_age', 'allow_credentials', 'forward_not_matching_preflights'],
  'envoy.type.matcher.v3.StringMatcher': ['exact', 'prefix', 'suffix', 'contains', 'safe_regex', 'ignore_case'],
  'envoy.type.matcher.v3.RegexMatcher': ['regex', 'google_re2'],
});

/** A CorsPolicy, compiled. */
export interface Cors {
  readonly origins: readonly CompiledStringMatch[];
  readonly allowMethods: string;
  /** '' = the headers the preflight asks for. */
  readonly allowHeaders: string;
  readonly exposeHeaders: string;
  readonly maxAge: string;
  readonly allowCredentials: boolean;
}

function compile(pol: CorsPolicy): Cors {
  return Object.freeze({
    origins: pol.allowOriginStringMatch.map((m) => CompiledStringMatch.from(m)),
    allowMethods: pol.allowMethods,
    allowHeaders: pol.allowHeaders,
    exposeHeaders: pol.exposeHeaders,
    maxAge: pol.maxAge,
    allowCredentials: pol.allowCredentials === true,
  });
}

function allowed(c: Cors, origin: string): boolean {
  for (const m of c.origins) if (m.test(origin)) return true;
  return false;
}

/** The headers every response to an allowed origin carries. */
function responseHeaders(c: Cors, origin: string): ResponseHeaders {
  const h: ResponseHeaders = { 'access-control-allow-origin': origin, vary: 'origin' };
  if (c.allowCredentials) h['access-control-allow-credentials'] = 'true';
  if (c.exposeHeaders) h['access-control-expose-headers'] = c.exposeHeaders;
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
    this.res.writeHead(status, Object.assign(headers, this.extra), endStream);
  }
  override respondTrailersOnly(headers: ResponseHeaders): void {
    this.res.respondTrailersOnly(Object.assign(headers, this.extra));
  }
  override respondSimple(status: number, headers: ResponseHeaders, body: string): void {
    this.res.respondSimple(status, { ...headers, ...this.extra }, body);
  }
}

function corsFilter(c: Cors): Filter {
  return (next) => (req, res, info) => {
    const origin = req.header('origin');
    if (origin === undefined || !allowed(c, origin)) {
      next(req, res, info);
      return;
    }
    const extra = responseHeaders(c, origin);
    if (req.method === 'OPTIONS' && req.header('access-control-request-method') !== undefined) {
      extra['access-control-allow-methods'] = c.allowMethods;
      const asked = req.header('access-control-request-headers');
      const headers = c.allowHeaders || asked;
      if (headers) extra['access-control-allow-headers'] = headers;
      if (c.maxAge) extra['access-control-max-age'] = c.maxAge;
      respondLocal(res, 204, extra, '');
      return;
    }
    next(req, new CorsSink(res, extra), info);
  };
}

export const cors: HttpFilterFactory<true, Cors> = {
  extension: EXTENSIONS.cors,
  parse: noOptions(EXTENSIONS.cors),
  perRoute: {
    schema: EXTENSIONS.corsPolicy.schema,
    parse(any, p, path) {
      const pol = anyUnpack(any, EXTENSIONS.corsPolicy.schema);
      if (!pol) {
        p.add(path, 'is not a CorsPolicy');
        return undefined;
      }
      checkSupported(EXTENSIONS.corsPolicy.schema, pol, FIELDS, p, path);
      if (pol.forwardNotMatchingPreflights === false) p.add(`${path}.forward_not_matching_preflights`, 'false is not supported: preflights from origins the policy does not allow go on to the route');
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
