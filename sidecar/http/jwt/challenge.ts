/**
 * RFC 6750 answers of the JWT filters: 401 with `WWW-Authenticate: Bearer realm="<url>"` (plus
 * `error="invalid_token"` and a description when a token was there but failed), 403 with
 * `error="insufficient_scope"`. The realm is the request's URL, as Envoy's jwt_authn gives it.
 * The response itself is made by respond.ts (status, x-weft-error, gRPC forms): this only adds
 * the challenge header to whatever it writes.
 */
import type { ErrorCode } from '../../../common/errors.js';
import { ForwardingSink, type RequestHead, type RequestInfo, type ResponseHeaders, type ResponseSink } from '../filter.js';
import { respondError } from '../respond.js';

class ChallengeSink extends ForwardingSink {
  constructor(
    res: ResponseSink,
    readonly challenge: string,
  ) {
    super(res);
  }
  override writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void {
    headers['www-authenticate'] = this.challenge;
    this.res.writeHead(status, headers, endStream);
  }
  override respondTrailersOnly(headers: ResponseHeaders): void {
    this.res.respondTrailersOnly({ ...headers, 'www-authenticate': this.challenge });
  }
  override respondSimple(status: number, headers: ResponseHeaders, body: string): void {
    this.res.respondSimple(status, { ...headers, 'www-authenticate': this.challenge }, body);
  }
}

/** A quoted-string (RFC 9110): backslash and quote escaped, controls dropped. */
function quoted(s: string): string {
  return `"${s.replace(/[\x00-\x1f\x7f]/g, '').replace(/[\\"]/g, '\\$&')}"`;
}

/** An RFC 6750 error_description: %x20-21 / %x23-5B / %x5D-7E only (no quote or backslash, even escaped). */
function description(s: string): string {
  return `"${s.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '')}"`;
}

function realm(req: RequestHead): string {
  return `${req.secure ? 'https' : 'http'}://${req.authority}${req.path}`;
}

/** 401 JWT_MISSING: no token where one is required (no error code, RFC 6750 section 3.1). */
export function respondMissing(req: RequestHead, res: ResponseSink, info: RequestInfo): void {
  respondError(req, new ChallengeSink(res, `Bearer realm=${quoted(realm(req))}`), info, 'JWT_MISSING', 'Jwt is missing');
}

/** 401 JWT_INVALID: a token that failed verification. */
export function respondInvalid(req: RequestHead, res: ResponseSink, info: RequestInfo, why: string): void {
  respondError(req, new ChallengeSink(res, `Bearer realm=${quoted(realm(req))}, error="invalid_token", error_description=${description(why)}`), info, 'JWT_INVALID', why);
}

/** 403 JWT_FORBIDDEN: a valid token without a required scope or claim. */
export function respondForbidden(req: RequestHead, res: ResponseSink, info: RequestInfo, why: string, scopes: readonly string[]): void {
  const scope = scopes.length ? `, scope=${quoted(scopes.join(' '))}` : '';
  const code: ErrorCode = 'JWT_FORBIDDEN';
  respondError(req, new ChallengeSink(res, `Bearer realm=${quoted(realm(req))}, error="insufficient_scope", error_description=${description(why)}${scope}`), info, code, why);
}
