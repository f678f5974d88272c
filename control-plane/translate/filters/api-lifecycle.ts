/**
 * weft.filters.http.api_lifecycle for ApiLifecyclePolicy (API version deprecation and sunset),
 * after the rate limits (a rejected request is not counted as deprecated usage; the consumer is
 * known by then) and before validation and transformation (a 410 after the sunset costs nothing).
 *
 * - Gateway listeners: each Envoy Route carries the policy of its rule (ExtensionRef), else the
 *   one targeting the listener, else the one targeting the Gateway (like CORS: one complete policy
 *   per route, so "the rule's policy wins" is exact).
 * - Sidecars' outbound listeners: mesh routes whose rule names a policy (the caller's proxy adds
 *   the headers, as it applies the route).
 * - Sidecars' inbound listener: the policy targeting the Service, on the inbound virtual host.
 * - Proxyless gRPC clients get no lifecycle: grpc-js-xds does not know this filter.
 *
 * The policy's dates become epoch seconds here; the proxy builds the header values once from them.
 */
import { EXTENSIONS, packExtension, typedExtension } from '../../../common/extensions.js';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { ApiLifecyclePolicyResource } from '../../config/types.js';
import { policyForListener, policyForService, ruleExtension } from '../../config/kinds/policy-attachment.js';
import { configuredIn, type HttpFilterTranslation } from './filter.js';

/** RFC 3339 (as validated by the kind) -> epoch seconds. */
function seconds(rfc3339: string): bigint {
  return BigInt(Date.parse(rfc3339.length === 10 ? `${rfc3339}T00:00:00Z` : rfc3339) / 1000);
}

/** An ApiLifecyclePolicy resource -> the filter's per-route message. */
export function lifecyclePolicy(res: ApiLifecyclePolicyResource) {
  const { deprecation, sunset, successor, link, rejectAfterSunset } = res.spec;
  return packExtension(EXTENSIONS.apiLifecyclePolicy, {
    name: `${res.metadata.namespace}/${res.metadata.name}`,
    deprecated: true,
    ...(deprecation === true ? {} : { deprecationTime: seconds(deprecation) }),
    ...(sunset !== undefined ? { sunsetTime: seconds(sunset) } : {}),
    successor: successor ?? '',
    link: link ?? '',
    rejectAfterSunset,
  });
}

export const apiLifecycle: HttpFilterTranslation = {
  name: EXTENSIONS.apiLifecycle.name,
  listenerFilters(ctx) {
    const on =
      ctx.side === 'inbound'
        ? ctx.service !== undefined && policyForService(ctx.model.apiLifecyclePolicies.values(), ctx.namespace, ctx.service) !== undefined
        : (ctx.side === 'gateway' || ctx.side === 'outbound') && configuredIn(ctx.routes, EXTENSIONS.apiLifecycle.name);
    return on ? [typedExtension(EXTENSIONS.apiLifecycle) as HttpFilter] : [];
  },
  virtualHostConfig(ctx) {
    if (ctx.side !== 'inbound') return undefined;
    const p = policyForService(ctx.model.apiLifecyclePolicies.values(), ctx.svc.metadata.namespace, ctx.svc.metadata.name);
    return p ? lifecyclePolicy(p) : undefined;
  },
  routeConfig(ctx) {
    if (ctx.proxyless) return undefined;
    const p =
      ruleExtension<ApiLifecyclePolicyResource>(ctx.model, ctx.rule.filters, 'ApiLifecyclePolicy', ctx.namespace) ??
      (ctx.gateway ? policyForListener(ctx.model.apiLifecyclePolicies.values(), ctx.gateway.gw, ctx.gateway.listener) : undefined);
    return p ? lifecyclePolicy(p) : undefined;
  },
};
