/**
 * weft.filters.http.aggregation for AggregationPolicy: every Envoy Route built from a gateway rule
 * whose ExtensionRef names an AggregationPolicy carries the policy as an Aggregation
 * (typed_per_filter_config), and a gateway listener whose routes carry one gets the filter (no
 * options, is_optional: an xDS client without it answers the route's direct response instead,
 * routes.ts). The proxy parses the templates when the route is decoded.
 */
import { EXTENSIONS, packExtension, typedExtension } from '../../../common/extensions.js';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { AggregationPolicyResource, AggregationPolicySpec } from '../../config/types.js';
import { ruleExtension } from '../../config/kinds/policy-attachment.js';
import { duration } from '../proto-helpers.js';
import { configuredIn, type HttpFilterTranslation } from './filter.js';

/** AggregationPolicy spec -> Aggregation init. */
export function aggregationConfig(spec: AggregationPolicySpec) {
  return {
    pathTemplate: spec.pathTemplate ?? '',
    maxCallBodyBytes: spec.maxCallBodyBytes,
    calls: spec.calls.map((c) => ({
      name: c.name,
      method: c.method,
      path: c.path,
      host: c.host ?? '',
      headers: c.headers,
      timeout: duration(c.timeoutMs),
      optional: c.optional,
      dependsOn: c.dependsOn,
    })),
  };
}

export const aggregation: HttpFilterTranslation = {
  name: EXTENSIONS.aggregation.name,
  listenerFilters: (ctx) => (ctx.side === 'gateway' && configuredIn(ctx.routes, EXTENSIONS.aggregation.name) ? [{ ...typedExtension(EXTENSIONS.aggregationFilter), isOptional: true } as HttpFilter] : []),
  routeConfig(ctx) {
    if (!ctx.gateway) return undefined;
    const policy = ruleExtension<AggregationPolicyResource>(ctx.model, ctx.rule.filters, 'AggregationPolicy', ctx.namespace);
    return policy ? packExtension(EXTENSIONS.aggregation, aggregationConfig(policy.spec)) : undefined;
  },
};
