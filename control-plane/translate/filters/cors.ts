/**
 * envoy.filters.http.cors, first in the chain (a browser's preflight is answered before
 * authorization, rate limits or anything else), in two places:
 *
 * - the inbound listener of every service with a grpc port, with the gRPC-Web CORS policy
 *   (common/grpc-web.ts) on that listener's virtual host;
 * - a gateway listener some of whose routes have CORS rules: the rule's own (an ExtensionRef to a
 *   CorsPolicy, or the Gateway API's `CORS` filter, GEP-1767), else the CorsPolicy targeting the
 *   listener, else the one targeting its Gateway (policy-attachment.ts).
 *
 * A gateway's policy goes on each Envoy Route, never on the virtual host: Envoy merges a route's
 * CorsPolicy with its virtual host's field by field (an empty field falls back), so a rule's
 * policy could inherit the Gateway's exposed headers or credentials. One complete policy per route
 * makes "the rule's policy wins" exact in Envoy and in Weft's proxy alike.
 *
 * The listener filter has no options; a policy on a virtual host or route is what turns it on.
 */
import { EXTENSIONS, packExtension, typedExtension } from '../../../common/extensions.js';
import { GRPC_WEB_ALLOW_METHODS, GRPC_WEB_EXPOSE, GRPC_WEB_MAX_AGE } from '../../../common/grpc-web.js';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { CorsPolicyResource, CorsRules, HTTPRouteFilter, OriginMatch } from '../../config/types.js';
import { policyForListener, ruleExtension } from '../../config/kinds/policy-attachment.js';
import { configuredIn, type HttpFilterTranslation } from './filter.js';
import { servesGrpcWeb } from './grpc-web.js';

function originMatcher(m: OriginMatch) {
  if ('exact' in m) return { matchPattern: { case: 'exact' as const, value: m.exact } };
  if ('prefix' in m) return { matchPattern: { case: 'prefix' as const, value: m.prefix } };
  if ('suffix' in m) return { matchPattern: { case: 'suffix' as const, value: m.suffix } };
  return { matchPattern: { case: 'safeRegex' as const, value: { regex: m.regex } } };
}

/** CorsPolicy spec or Gateway API CORS filter -> Envoy CorsPolicy init. */
export function envoyCorsPolicy(spec: CorsRules) {
  return {
    allowOriginStringMatch: spec.allowOrigins.map(originMatcher),
    allowMethods: spec.allowMethods.join(','),
    allowHeaders: spec.allowHeaders.join(','),
    exposeHeaders: spec.exposeHeaders.join(','),
    maxAge: spec.maxAgeSeconds === undefined ? '' : String(spec.maxAgeSeconds),
    allowCredentials: spec.allowCredentials,
    // The gateway owns CORS for these routes: a preflight from an origin the policy does not
    // allow is answered here too (without access-control-allow-origin, so the browser refuses),
    // and the upstream never sees a preflight.
    forwardNotMatchingPreflights: false,
    ...(spec.allowPrivateNetworkAccess ? { allowPrivateNetworkAccess: true } : {}),
  };
}

export const cors: HttpFilterTranslation = {
  name: EXTENSIONS.cors.name,
  listenerFilters(ctx) {
    if (ctx.side === 'inbound' && ctx.service && servesGrpcWeb(ctx.model, ctx.namespace, ctx.service)) return [typedExtension(EXTENSIONS.cors) as HttpFilter];
    if (ctx.side === 'gateway' && configuredIn(ctx.routes, EXTENSIONS.cors.name)) return [typedExtension(EXTENSIONS.cors) as HttpFilter];
    return [];
  },
  virtualHostConfig(ctx) {
    if (ctx.side !== 'inbound' || !servesGrpcWeb(ctx.model, ctx.svc.metadata.namespace, ctx.svc.metadata.name)) return undefined;
    return packExtension(EXTENSIONS.corsPolicy, {
      allowOriginStringMatch: [{ matchPattern: { case: 'safeRegex', value: { regex: '.*' } } }],
      allowMethods: GRPC_WEB_ALLOW_METHODS,
      // The headers the preflight asks for (gRPC-Web clients send custom metadata).
      allowHeaders: '*',
      exposeHeaders: GRPC_WEB_EXPOSE,
      maxAge: GRPC_WEB_MAX_AGE,
    });
  },
  routeConfig(ctx) {
    if (!ctx.gateway) return undefined;
    const rules =
      ruleExtension<CorsPolicyResource>(ctx.model, ctx.rule.filters, 'CorsPolicy', ctx.namespace)?.spec ??
      (ctx.rule.filters as readonly HTTPRouteFilter[]).find((f): f is Extract<HTTPRouteFilter, { type: 'CORS' }> => f.type === 'CORS')?.cors ??
      policyForListener(ctx.model.corsPolicies.values(), ctx.gateway.gw, ctx.gateway.listener)?.spec;
    return rules ? packExtension(EXTENSIONS.corsPolicy, envoyCorsPolicy(rules)) : undefined;
  },
};
