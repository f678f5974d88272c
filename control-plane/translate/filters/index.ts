/**
 * Every HTTP filter translation, in the order the filters run in a listener's http_filters (the
 * router, appended by listeners.ts, comes last). The translator walks this list; adding a filter
 * is adding a file and a line here.
 */
import type { Any } from '@bufbuild/protobuf/wkt';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { HttpFilterTranslation, ListenerContext, RouteRuleContext, VirtualHostContext } from './filter.js';
import { cors } from './cors.js';
import { rbac } from './rbac.js';
import { grpcWeb } from './grpc-web.js';
import { grpcJsonTranscoder } from './grpc-json-transcoder.js';
import { grpcJsonReverse } from './grpc-json-reverse.js';
import { fault } from './fault.js';
import { compressor } from './compressor.js';
import { requestLimits } from './request-limits.js';
import { buffer } from './buffer.js';
import { cache } from './cache.js';
import { jwtAuthn, jwtClaims } from './jwt-authn.js';
import { keyAuth } from './key-auth.js';
import { apiLifecycle } from './api-lifecycle.js';
import { validation } from './validation.js';
import { transformation } from './transformation.js';
import { aggregation } from './aggregation.js';
import { rateLimit } from './rate-limit.js';

/**
 * CORS first: it answers preflights before anything else, and its headers reach every answer a
 * later filter gives (a 413 or 414 from the limits is then a status the page can read, not a
 * CORS failure). Then the request limits (they refuse before anything runs); then the compressor:
 * it wraps (and compresses) what every later filter answers (the cache keeps identity bodies).
 * API keys before RBAC and everything that reads the consumer (info.consumer).
 * Rate limits after authentication and authorization: they count the consumer those found, and
 * a request refused there does not use up anyone's limit.
 */
export const HTTP_FILTERS: readonly HttpFilterTranslation[] = Object.freeze([
  cors,
  requestLimits,
  buffer,
  compressor,
  jwtAuthn,
  keyAuth,
  // After the API keys: a request without a key is told 401 before a token's scopes are judged.
  jwtClaims,
  rbac,
  // Before the rate limits and validation: a retired version is 410 whatever its body (and uses
  // up no quota), and a deprecated version's 429 or 400 carries the Deprecation headers too.
  apiLifecycle,
  rateLimit,
  validation,
  transformation,
  // Last before the cache: a composed request has been authenticated, limited and validated, and
  // its calls go back through the listener's routes (each with its own chain).
  aggregation,
  cache,
  grpcWeb,
  grpcJsonTranscoder,
  grpcJsonReverse,
  fault,
]);

/** A listener's http_filters before the router. */
export function listenerFilters(ctx: ListenerContext): HttpFilter[] {
  return HTTP_FILTERS.flatMap((f) => f.listenerFilters(ctx));
}

/** typed_per_filter_config of a virtual host. */
export function virtualHostConfigs(ctx: VirtualHostContext): Record<string, Any> {
  const out: Record<string, Any> = {};
  for (const f of HTTP_FILTERS) {
    const c = f.virtualHostConfig?.(ctx);
    if (c) out[f.name] = c;
  }
  return out;
}

/** typed_per_filter_config of each Envoy Route built from a route rule. */
export function routeConfigs(ctx: RouteRuleContext): Record<string, Any> {
  const out: Record<string, Any> = {};
  for (const f of HTTP_FILTERS) {
    const c = f.routeConfig?.(ctx);
    if (c) out[f.name] = c;
    if (f.routeConfigs) Object.assign(out, f.routeConfigs(ctx));
  }
  return out;
}

export type { GatewayTarget, HttpFilterTranslation, ListenerContext, ListenerSide, RouteRuleContext, VirtualHostContext } from './filter.js';
